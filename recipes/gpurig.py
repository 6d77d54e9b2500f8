"""A software WebGPU adapter with ``shader-f16`` for the node tests.

Why a rig outside the browser: headless Chromium offers only SwiftShader, which
lacks ``shader-f16``, and ggml-webgpu registers no device without it. Dawn's node
binding (npm ``webgpu``, a prebuilt ``dawn.node``) on Mesa's lavapipe has it, and
Node 26 runs JSPI without flags (the toolchain's node 24 does not).

Where each part lives: the node tests run inside the toolchain root, so Mesa is
installed there with the root's own apt (its sources are the host's mirror that
debootstrap was given). Node 26 and ``webgpu`` are npm tarballs, checked against
``[webgpu_rig]`` and unpacked under the cache, which the root sees at the same
path. Nothing here enters the toolchain's cache key: the wasm builds stay cached.
"""

from __future__ import annotations

import platform
import re
import shlex
import shutil
import tarfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .errors import RecipeError
from .pins import cache_root, digest
from .pyodide_dist import _npm_pack
from .toolchain import Toolchain, satisfies

Log = Callable[[str], None]

MESA_PACKAGES = ("mesa-vulkan-drivers", "libvulkan1")
# The one platform whose node and dawn.node the rig unpacks (npm names it so).
NPM_PLATFORM = "linux-x64"
# The only Dawn backend the rig offers: a machine with a GPU still tests lavapipe.
DAWN_OPTIONS = '["backend=vulkan"]'
APT = "DEBIAN_FRONTEND=noninteractive apt-get -q -y --no-install-recommends"


def ensure_rig(tc: Toolchain, pins: dict[str, Any], log: Log = print) -> dict[str, str]:
    """Make the rig ready and return the environment the node tests run it with.

    Parameters
    ----------
    tc
        The toolchain whose root runs the tests; Mesa goes into it.
    pins
        The parsed ``emscripten.toml``; ``[webgpu_rig]`` pins every part.
    log
        Progress lines, with the time each step took.

    Returns
    -------
    dict[str, str]
        ``PLM_NODE26`` (the node binary), ``PLM_DAWN`` (the module to ``import()``),
        ``PLM_DAWN_OPTIONS`` (JSON list for its ``create()``), ``VK_DRIVER_FILES``
        (lavapipe's ICD only, so the Vulkan loader never opens a real GPU driver) and
        ``PLM_MESA_VERSION``. Every path is valid inside the toolchain root.
    """
    rig = pins["webgpu_rig"]
    if platform.machine() != "x86_64":
        raise RecipeError(f"the WebGPU rig pins {NPM_PLATFORM} builds; this host is {platform.machine()}",
                          "run the rig on an x86-64 Linux host")
    mesa, icd = _ensure_mesa(tc, rig["mesa_min"], log)
    node, dawn = _unpack_npm(rig, log)
    return {"PLM_NODE26": str(node), "PLM_DAWN": str(dawn), "PLM_DAWN_OPTIONS": DAWN_OPTIONS,
            "VK_DRIVER_FILES": icd, "PLM_MESA_VERSION": mesa}


def _installed(tc: Toolchain) -> dict[str, str]:
    """Version of each Mesa package that dpkg calls installed (absent ones are left out)."""
    fmt = shlex.quote("${Package} ${Version} ${db:Status-Status}\\n")
    out = tc.run(f"dpkg-query -W -f={fmt} {' '.join(MESA_PACKAGES)}", capture=True, check=False).stdout
    rows = (ln.split() for ln in out.splitlines())
    return {r[0]: r[1] for r in rows if len(r) == 3 and r[2] == "installed"}


def _ensure_mesa(tc: Toolchain, mesa_min: str, log: Log) -> tuple[str, str]:
    """Install lavapipe into the root once; return its version and ICD file.

    Why check the version: Dawn refuses lavapipe before Mesa 25 (it lacks
    ``shaderUniform*ArrayDynamicIndexing``), and the suite's Mesa moves with it.
    """
    t0 = time.monotonic()
    have = _installed(tc)
    if len(have) < len(MESA_PACKAGES):
        if tc.root is None:
            raise RecipeError("the host toolchain is in use and lacks " + ", ".join(set(MESA_PACKAGES) - set(have)),
                              f"apt-get install {' '.join(MESA_PACKAGES)} on the host (Mesa >= {mesa_min}), "
                              "or unset PYODIDE_LLM_HOST_TOOLCHAIN to use the toolchain root")
        _apt_install(tc, log)
        have = _installed(tc)
        log(f"gpurig: installed {' '.join(MESA_PACKAGES)} into {tc.root} in {time.monotonic() - t0:.1f} s")
    mesa = have.get("mesa-vulkan-drivers", "missing")
    upstream = re.sub(r"^\d+:", "", mesa)  # an epoch is no part of Mesa's version
    if not satisfies(upstream, f">={mesa_min}"):
        raise RecipeError(f"Mesa {mesa} in the toolchain is older than {mesa_min}; Dawn rejects its lavapipe",
                          "bootstrap the toolchain from a newer Debian suite ([toolchain] suite)")
    files = tc.run("dpkg -L mesa-vulkan-drivers", capture=True).stdout.split()
    icd = next((f for f in files if re.search(r"/icd\.d/lvp_icd[.\w]*\.json$", f)), None)
    if icd is None:
        raise RecipeError(f"mesa-vulkan-drivers {mesa} ships no lavapipe ICD file (lvp_icd*.json)",
                          "check the package's file list (dpkg -L mesa-vulkan-drivers) and adapt _ensure_mesa")
    log(f"gpurig: Mesa {mesa}, lavapipe ICD {icd}")
    return mesa, icd


def _apt_install(tc: Toolchain, log: Log) -> None:
    """``apt-get install`` Mesa into the root; refuse to upgrade what the root already has.

    Why refuse: the toolchain's cache key covers its pins, not the packages in it;
    an upgrade pulled in by Mesa (libc, LLVM) would change the compilers under
    cached builds without anyone noticing. The package lists from debootstrap are
    tried first; a fresh ``apt-get update`` only when they no longer resolve.
    """
    pkgs = " ".join(MESA_PACKAGES)
    out = ""
    for update in (False, True):
        if update:
            log("gpurig: the root's package lists are stale; apt-get update")
            tc.run(f"{APT} update", capture=True, check=False)
        plan = tc.run(f"{APT} install -s {pkgs}", capture=True, check=False)
        upgrades = re.findall(r"^Inst (\S+) \[", plan.stdout, re.MULTILINE)
        if upgrades:
            raise RecipeError(f"installing Mesa would upgrade toolchain packages: {', '.join(upgrades)}",
                              f"delete {tc.root} so it is bootstrapped again, its packages and Mesa from the "
                              "same package lists")
        if plan.returncode == 0:
            log(f"gpurig: apt-get install {pkgs} in the toolchain root")
            r = tc.run(f"{APT} install {pkgs}", capture=True, check=False)
            if r.returncode == 0:
                return
            out = r.stdout
        else:
            out = plan.stdout
    raise RecipeError(f"apt-get install {pkgs} failed in {tc.root}:\n{out[-800:]}",
                      f"check the root's apt sources ({tc.root}/etc/apt/sources.list) reach the mirror")


def _unpack_npm(rig: dict[str, Any], log: Log) -> tuple[Path, Path]:
    """Unpack the pinned node binary and dawn.node once per ``[webgpu_rig]``; return node and index.js.

    Why only ``index.js``: it ``require()``s the prebuilt ``dawn.node`` and nothing
    else, so the package's npm dependencies (``debug``, type declarations) and its
    install script (macOS only) are not needed.
    """
    out = cache_root() / "gpurig" / f"rig-{digest(rig)}"
    node, dawn = out / "node" / "bin" / "node", out / "webgpu" / "index.js"
    if (out / ".complete").exists():
        return node, dawn
    t0 = time.monotonic()
    node_tgz = _npm_pack(rig["node_npm"], rig["node_sha256"], rig["node_file"], log)
    dawn_tgz = _npm_pack(rig["webgpu_npm"], rig["webgpu_sha256"], rig["webgpu_file"], log)
    t1 = time.monotonic()
    tmp = out.with_name(out.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    _extract(node_tgz, tmp / "node", ("bin/node", "LICENSE"))
    _extract(dawn_tgz, tmp / "webgpu", ("index.js", "package.json", "LICENSE.md", f"dist/{NPM_PLATFORM}/"))
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    (out / ".complete").write_text("ok\n")
    log(f"gpurig: npm pack {t1 - t0:.1f} s, unpack {time.monotonic() - t1:.1f} s: {out}")
    return node, dawn


def _extract(tgz: Path, dest: Path, keep: tuple[str, ...]) -> None:
    """Extract the members of an npm tarball named in ``keep`` (a trailing ``/`` keeps a folder)."""
    def wanted(member: tarfile.TarInfo, path: str) -> tarfile.TarInfo | None:
        name = member.name.removeprefix("package/")
        if not any(name == k or (k.endswith("/") and name.startswith(k)) for k in keep):
            return None
        # The "data" filter keeps the exec bit (node must run) and refuses links out.
        return tarfile.data_filter(member.replace(name=name, deep=False), path)

    dest.mkdir(parents=True, exist_ok=True)
    with tarfile.open(tgz) as tf:
        tf.extractall(dest, filter=wanted)
    missing = [k for k in keep if not (dest / k).exists()]
    if missing:
        raise RecipeError(f"{tgz.name} lacks {', '.join(missing)}", "check the pinned npm package's file list")
