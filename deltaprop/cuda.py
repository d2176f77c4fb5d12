"""``deltaprop.cuda``: the questions PyTorch code asks about the GPU (``dp.cuda.is_available()``).

deltaprop runs on a GPU through CuPy (``pip install 'deltaprop[gpu]'``):
``device = dp.device('cuda' if dp.cuda.is_available() else 'cpu')`` then
``model.to(device)``, ``x.to(device)``, as in PyTorch. Seeding needs no
call here: the package generator (`deltaprop.manual_seed`) decides every
draw on the GPU too, so ``manual_seed``/``manual_seed_all`` only check
their argument.
"""

from __future__ import annotations

from deltaprop import backend


def is_available() -> bool:
    """True when CuPy imports and sees a CUDA device."""
    return backend.gpu_available()


def device_count() -> int:
    if not is_available():
        return 0
    import cupy

    return int(cupy.cuda.runtime.getDeviceCount())


def current_device() -> int:
    if not is_available():
        raise RuntimeError(
            "cuda.current_device(): no GPU is available (CuPy not installed or no CUDA device)"
        )
    import cupy

    return int(cupy.cuda.runtime.getDevice())


def manual_seed(seed: int) -> None:
    """Nothing to do: `deltaprop.manual_seed` seeds GPU draws as well (see the module docstring)."""
    int(seed)


manual_seed_all = manual_seed


def synchronize(device: object = None) -> None:
    """Wait for the GPU to finish its queued work (nothing to wait for without one)."""
    if is_available():
        import cupy

        cupy.cuda.get_current_stream().synchronize()


def empty_cache() -> None:
    """Give CuPy's cached, unused GPU memory back to the driver."""
    if is_available():
        import cupy

        cupy.get_default_memory_pool().free_all_blocks()
