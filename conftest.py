"""Root conftest: applies to tests/ and to the notebooks nbval checks."""
import pytest


def pytest_collection_modifyitems(config, items):
    """nbval cells of one notebook share a kernel: keep them on one xdist worker (--dist loadgroup)."""
    for item in items:
        path = str(getattr(item, "fspath", ""))
        if path.endswith(".ipynb"):
            item.add_marker(pytest.mark.xdist_group(name=path))
