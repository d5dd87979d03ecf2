"""Metric tables shared by :class:`gradfusion.Evaluation` and :class:`gradfusion.Tradeoff`.

``columns`` are ``(key, header, format)`` triples and ``rows`` dicts with those keys;
a value of None is "not computed" (``n/a`` in text, an empty CSV cell, JSON null), and
non-finite floats are JSON null.
"""

import csv
import io
import json
import math


def format_table(title, columns, rows):
    """``title`` then the rows as fixed-width text (first column left-aligned)."""
    cells = [[h for _, h, _ in columns]]
    for row in rows:
        cells.append(["n/a" if row[k] is None else f.format(row[k]) for k, _, f in columns])
    widths = [max(len(r[i]) for r in cells) for i in range(len(columns))]
    lines = [title]
    for r in cells:
        lines.append("  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                               for i, (c, w) in enumerate(zip(r, widths))))
    return "\n".join(lines)


def to_csv(columns, rows):
    """The rows as CSV text with a header (None: an empty cell; inf stays ``inf``)."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=[k for k, _, _ in columns], lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if row[k] is None else row[k] for k, _, _ in columns})
    return buf.getvalue()


def to_json(rows, **fields):
    """``fields`` and the rows as indented JSON text (non-finite floats as null)."""
    def clean(x):
        return None if isinstance(x, float) and not math.isfinite(x) else x

    return json.dumps({**fields, "rows": [{k: clean(v) for k, v in r.items()} for r in rows]},
                      indent=2)
