"""The page's scripts and styles, kept on this machine: Solara's server fetches them from a CDN at first use,
which a machine without internet access cannot reach. They are npm packages, so they come from the npm
registry (``npm pack``) into Solara's own proxy cache, once; ``python -m sim.dashboard.assets`` (run by the
Makefile's set-up) or the first ``alignsim dashboard`` puts them there.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from importlib import metadata
from pathlib import Path

from sim.errors import UserError

_PACKAGE = re.compile(r"\{\{cdn\}\}/((?:@[\w.-]+/)?[\w.-]+@\d+\.\d+\.\d+)/")


def cache_dir() -> Path:
    """Where Solara's server looks for the files it would fetch from the CDN."""
    from solara.server import settings

    return Path(settings.assets.proxy_cache_dir)


def needed() -> list[str]:
    """The npm packages (name@version) that Solara's page template loads, for the installed ipyvuetify."""
    import solara.server

    template = Path(solara.server.__file__).parent / "templates" / "solara.html.j2"
    packages = sorted(set(_PACKAGE.findall(template.read_text(encoding="utf-8"))))
    vuetify3 = int(metadata.version("ipyvuetify").split(".")[0]) >= 3
    unused = "solara-vuetify-app@" if vuetify3 else "solara-vuetify3-app@"
    return [p for p in packages if unused not in p] + ["font-awesome@4.5.0"]


def missing() -> list[str]:
    return [p for p in needed() if not (cache_dir() / p / "package.json").is_file()]


def prepare() -> list[str]:
    """Fetch the missing packages with npm into the cache; returns what was fetched."""
    wanted = missing()
    if not wanted:
        return []
    npm = shutil.which("npm")
    if npm is None:
        raise UserError(f"the dashboard's page scripts ({', '.join(wanted)}) are not in {cache_dir()} and npm is not "
                        "installed: install Node.js with npm, then run `python -m sim.dashboard.assets`")
    with tempfile.TemporaryDirectory() as scratch:
        for package in wanted:
            done = subprocess.run([npm, "pack", "--silent", "--pack-destination", scratch, package],
                                  capture_output=True, text=True, timeout=600, check=False)
            if done.returncode != 0:
                raise UserError(f"npm pack {package} failed: {done.stderr.strip()[-300:]}")
            archive = Path(scratch) / done.stdout.strip().splitlines()[-1]
            target = cache_dir() / package
            partial = target.with_name(target.name + ".partial")
            shutil.rmtree(partial, ignore_errors=True)
            partial.mkdir(parents=True)
            with tarfile.open(archive) as tar:
                tar.extractall(partial, filter=_strip_package_folder)
            shutil.rmtree(target, ignore_errors=True)
            partial.rename(target)
    return wanted


def _strip_package_folder(member: tarfile.TarInfo, path: str) -> tarfile.TarInfo | None:
    """npm tarballs hold everything under ``package/``; the CDN serves it from the package's root."""
    member = tarfile.data_filter(member, path)
    name = member.name.split("/", 1)
    return member.replace(name=name[1]) if len(name) == 2 and name[1] else None


if __name__ == "__main__":
    fetched = prepare()
    print(f"dashboard assets in {cache_dir()}: " + (f"fetched {', '.join(fetched)}" if fetched else "up to date"))
    sys.exit(0)
