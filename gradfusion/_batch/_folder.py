"""``gradfusion batch``: pairing two folders by file name, and the resumable manifest.

Pairing rule: an input ``INPUT_DIR/<stem>.<ext>`` goes with the proposal
``PROPOSAL_DIR/<pattern with {stem} replaced>.<ext2>``; the extensions are any
readable image extension and need not agree. A stem with two image files in
one folder is ambiguous and refused.

Resuming: a pair is skipped when its output file exists, its manifest row's
outcome is ``ok`` or ``unconverged``, and its input and proposal have the size and
modification time (nanoseconds) recorded in that row (no hashing: reading every
image of a large dataset again to hash it would cost about as much as a cheap
solve). A manifest from before the column was renamed ``outcome`` (its rows say
``status``, with the same words) is read as if they said ``outcome``.
"""

import contextlib
import csv
import io as _io
import json
import os
import signal
import threading
import time

#: extensions of the files paired (case-insensitive)
IMAGE_SUFFIXES = (".png", ".tif", ".tiff", ".jpg", ".jpeg", ".bmp", ".webp")

#: manifest columns, in order
COLUMNS = ("input", "proposal", "output", "outcome", "message", "objective", "bare_objective",
           "iterations", "time", "worker", "input_size", "input_mtime_ns", "proposal_size",
           "proposal_mtime_ns")

MANIFEST_CSV = "manifest.csv"
MANIFEST_JSON = "manifest.json"
#: outcomes whose output exists and need not be redone
DONE = ("ok", "unconverged")


def _renamed(row):
    """A manifest row with this version's column names: ``status``, the former name of
    ``outcome`` (same words), becomes ``outcome``."""
    if "outcome" not in row and "status" in row:
        row = {("outcome" if k == "status" else k): v for k, v in row.items()}
    return row


def list_images(folder):
    """``{stem: [file names]}`` of the image files of ``folder`` (hidden files skipped)."""
    found = {}
    for name in sorted(os.listdir(folder)):
        stem, ext = os.path.splitext(name)
        if name.startswith(".") or ext.lower() not in IMAGE_SUFFIXES:
            continue
        if os.path.isfile(os.path.join(folder, name)):
            found.setdefault(stem, []).append(name)
    return found


def pair_folders(input_dir, proposal_dir, pattern="{stem}"):
    """``(pairs, unpaired_inputs, unpaired_proposals)`` with ``pairs`` = ``[(stem, input, proposal)]``.

    Raises ValueError on an ambiguous stem (two image files with one stem).
    """
    if "{stem}" not in pattern:
        raise ValueError(f"--pattern must contain {{stem}}, got {pattern!r}")
    inputs = list_images(input_dir)
    proposals = list_images(proposal_dir)
    for folder, found in ((input_dir, inputs), (proposal_dir, proposals)):
        for stem, names in found.items():
            if len(names) > 1:
                raise ValueError(f"{folder}: {', '.join(names)} have the same name; "
                                 "keep one image per name")
    pairs, unpaired = [], []
    used = set()
    for stem, (name,) in inputs.items():
        target = pattern.replace("{stem}", stem)
        if target in proposals:
            used.add(target)
            pairs.append((stem, os.path.join(input_dir, name),
                          os.path.join(proposal_dir, proposals[target][0])))
        else:
            unpaired.append(os.path.join(input_dir, name))
    orphans = [os.path.join(proposal_dir, names[0]) for stem, names in proposals.items()
               if stem not in used]
    return pairs, unpaired, orphans


def file_key(path):
    """``(size, mtime_ns)`` of a file: what resuming compares."""
    st = os.stat(path)
    return st.st_size, st.st_mtime_ns


@contextlib.contextmanager
def signals_held():
    """Defer SIGINT and SIGTERM (in the main thread) until the block is done.

    ``gradfusion.io.write_text`` removes its temporary file on an ``OSError`` but
    not on a ``KeyboardInterrupt`` raised in the middle of it; holding the
    signals for the few milliseconds of a manifest write keeps an interrupt
    from leaving a temporary file behind.
    """
    if not hasattr(signal, "pthread_sigmask") or \
            threading.current_thread() is not threading.main_thread():
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


class Manifest:
    """``manifest.csv`` and ``manifest.json`` of an output folder, rewritten atomically.

    Rows are keyed by output file name. :meth:`save` rewrites both files (a
    temporary file renamed over the old one, as ``gradfusion.io.write_text``
    does) at most every ``interval`` seconds unless forced.
    """

    def __init__(self, folder, settings, interval=1.0):
        self.folder = folder
        self.settings = settings
        self.interval = interval
        self.rows = {}
        self.last_save = 0.0
        self.dirty = False

    @property
    def json_path(self):
        return os.path.join(self.folder, MANIFEST_JSON)

    @property
    def csv_path(self):
        return os.path.join(self.folder, MANIFEST_CSV)

    def load(self):
        """Read an existing manifest; returns its settings (None when there is none)."""
        if not os.path.exists(self.json_path):
            return None
        try:
            with open(self.json_path, encoding="utf-8") as fh:
                data = json.load(fh)
            rows = data["pairs"]
            settings = data["settings"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{self.json_path}: not a readable manifest ({exc}); "
                             "pass --force to start over") from None
        self.rows = {row["output"]: _renamed(row) for row in rows
                     if isinstance(row, dict) and "output" in row}
        return settings

    def done(self, input_path, proposal_path, output_name):
        """Whether the pair is finished: output present, row done, inputs unchanged."""
        row = self.rows.get(output_name)
        if row is None or row.get("outcome") not in DONE:
            return False
        if not os.path.exists(os.path.join(self.folder, output_name)):
            return False
        try:
            return (file_key(input_path) == (row.get("input_size"), row.get("input_mtime_ns"))
                    and file_key(proposal_path) == (row.get("proposal_size"),
                                                    row.get("proposal_mtime_ns")))
        except OSError:
            return False

    def record(self, pair, input_key, proposal_key):
        """Add or replace the row of a finished :class:`PairResult` ``pair``."""
        res = pair.result
        name = os.path.basename(pair.output)
        self.rows[name] = {
            "input": pair.input, "proposal": pair.proposal, "output": name,
            "outcome": pair.outcome,
            "message": pair.error if pair.error else res.message,
            "objective": None if res is None else float(res.fun),
            "bare_objective": None if res is None else float(res.bare_objective),
            "iterations": None if res is None else int(res.nit),
            "time": round(float(pair.time), 4), "worker": pair.worker,
            "input_size": input_key[0], "input_mtime_ns": input_key[1],
            "proposal_size": proposal_key[0], "proposal_mtime_ns": proposal_key[1],
        }
        self.dirty = True

    def save(self, force=False):
        """Rewrite both files if rows changed (throttled unless ``force``)."""
        from .. import io

        now = time.monotonic()
        if not self.dirty or (not force and now - self.last_save < self.interval):
            return
        rows = sorted(self.rows.values(), key=lambda r: r["output"])
        buf = _io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: "" if row.get(k) is None else row.get(k) for k in COLUMNS})
        text = json.dumps({"settings": self.settings, "pairs": rows}, indent=1) + "\n"
        with signals_held():     # JSON first: it is what a rerun reads
            io.write_text(self.json_path, text, overwrite=True)
            io.write_text(self.csv_path, buf.getvalue(), overwrite=True)
        self.last_save = now
        self.dirty = False
