"""Map the repository's top-level stage folders onto the one import name `tokentrail`.

The stages live side by side in the repository (instrumentation/, collector/, ...) but install
as subpackages of `tokentrail`. setuptools' static configuration cannot discover subpackages
under several roots, so they are listed here by walking the tree: a new subpackage or data file
needs no edit to the packaging.
"""

import runpy
import shutil
from pathlib import Path

from setuptools import Extension, setup

ROOTS = {
    "tokentrail": "tokentrail",
    "tokentrail.simulator": "simulator",
    "tokentrail.instrumentation": "instrumentation",
    "tokentrail.cache": "cache",
    "tokentrail.collector": "collector",
    "tokentrail.analytics": "analytics",
    "tokentrail.dashboards": "dashboards",
}
DATA_SUFFIXES = {".toml", ".json", ".sql", ".html", ".css", ".js", ".md", ".png", ".svg", ".txt"}

here = Path(__file__).parent
packages: list[str] = []
package_dir: dict[str, str] = {}
package_data: dict[str, list[str]] = {}
for name, root in ROOTS.items():
    for init in sorted((here / root).rglob("__init__.py")):
        rel = init.parent.relative_to(here / root)
        if "__pycache__" in rel.parts:
            continue
        pkg = ".".join([name, *rel.parts])
        packages.append(pkg)
        package_dir[pkg] = init.parent.relative_to(here).as_posix()
        data = [p.name for p in init.parent.iterdir() if p.is_file() and p.suffix in DATA_SUFFIXES]
        if data:
            package_data[pkg] = sorted(data)

# The collector's decoder modules, compiled with Cython (see collector/compiled.py). `optional`:
# without a C compiler the install goes on and they run as plain Python, with the same rows.
COMPILED = runpy.run_path(str(here / "collector" / "compiled.py"))["MODULES"]


def extensions() -> list[Extension]:
    """Cython finds a module's .pxd by its import name (tokentrail/collector/decode.pxd), which is
    not where the repository keeps it: compile copies staged under that name."""
    try:
        from Cython.Build import cythonize
    except ImportError:  # a build without its declared requirements (--no-build-isolation): plain Python
        return []

    stage = Path("build", "cython", "tokentrail", "collector")
    stage.mkdir(parents=True, exist_ok=True)
    modules = []
    for name in COMPILED:
        for suffix in (".py", ".pxd"):  # not every module has a .pxd
            source = here / "collector" / f"{name}{suffix}"
            if source.exists():
                shutil.copy2(source, stage / source.name)
        modules.append(Extension(f"tokentrail.collector.{name}", [str(stage / f"{name}.py")]))
    compiled = cythonize(modules, include_path=[str(stage.parent.parent)], quiet=True,
                         compiler_directives={"language_level": 3, "annotation_typing": False})
    for ext in compiled:  # set here: cythonize builds new Extension objects without it
        ext.optional = True
    return compiled


setup(packages=packages, package_dir=package_dir, package_data=package_data, include_package_data=False,
      ext_modules=extensions())
