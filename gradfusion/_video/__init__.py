"""Private machinery of :mod:`gradfusion.video` (sequences of frames).

``_kernels``: Numba bilinear warps of channels-first stacks (a homography, a flow field);
``motion``: the motion of a frame from the previous one (estimated translation, the caller's
transform or flow, checked and normalised) and the warm start it gives;
``frames``: frame sources and sinks (folders of image files; video files through imageio's
FFmpeg plugin, the ``video`` extra).
"""
