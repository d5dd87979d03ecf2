"""The machinery of Poisson image editing (private), under the public :mod:`gradfusion.poisson`.

:mod:`gradfusion.poisson` holds the functions (``gradient``, ``reconstruct``, ``blend``,
``color2gray``), their checks at the boundary and ``BlendResult``; everything they run is here,
one idea a module:

=================== ===================================================================
module              job
=================== ===================================================================
``arguments``       the checks of the Poisson functions' own arguments (masks, offsets,
                    anchors) and channels-first views of images
``dct``             Neumann Poisson solves by DCT (``reconstruct``, ``color2gray``) and the
                    forward differences (:class:`gradfusion.ForwardDifference`) they invert
``color``           ``color2gray``'s colour side: luminance and opponent chroma, the colour
                    contrast added to the guidance, the result fitted into [0, 1]
``system``          a blend's linear system: the region placed in the target, its padded
                    box and cell kinds, the right-hand side and initial guess; the solution
                    written back
``levels``          the multigrid levels (vertex-centred, Galerkin coarse operators,
                    Gauss-Seidel) and their hierarchy, on :mod:`gradfusion._multigrid`
``solver``          the conjugate gradients: drivers, hooks into the shared loop
                    (:func:`gradfusion._multigrid.pcg.pcg`), restarts from the true residual
``grid``            the padded grid the kernels work on: cell kinds, row spans, row bands,
                    the kernels' Numba flavours (from :mod:`gradfusion._jit`)
``level_kernels``   Numba kernels of the levels: the 5-point operator and its smoother, the
                    transfers, the Galerkin products, the 9-point coarse levels
``fused_kernels``   Numba kernels of the fine level fused into the conjugate gradients
``system_kernels``  Numba kernels of the set-up (padded windows, right-hand side, initial
                    guess) and of the output
=================== ===================================================================

The shared multigrid (V-cycle, level protocol, coarsest solvers, the one CG loop) is
:mod:`gradfusion._multigrid`; docs/poisson.md describes the method and its measurements.
"""
