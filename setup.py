"""Map the repository's top-level stage folders onto the one import name `tokentrail`.

The stages live side by side in the repository (instrumentation/, collector/, ...) but install
as subpackages of `tokentrail`. setuptools' static configuration cannot discover subpackages
under several roots, so they are listed here by walking the tree: a new subpackage or data file
needs no edit to the packaging.
"""

from pathlib import Path

from setuptools import setup

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

setup(packages=packages, package_dir=package_dir, package_data=package_data, include_package_data=False)
