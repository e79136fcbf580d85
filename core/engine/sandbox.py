"""The OS sandbox of the engine's child process (defence in depth for untrusted models).

Whatever a model file manages to run inside the child (a TensorFlow op that writes
or reads files, a crafted initializer, native code after a memory bug) meets the
kernel's limits, applied by the child to itself before it reads the first model byte:

* **Files (Landlock, Linux 5.13+):** writes only inside the child's private scratch
  folder (TMPDIR points there, so TensorFlow and Keras temp files land in it, and the
  parent deletes it whole); reads only the Python installation, Litesmith's own code,
  the system library folders, a few named files under /etc, /proc/self, /sys, a few
  devices, the scratch folder and the model and data paths the jobs of this child name.
  Landlock can only be tightened, never loosened, so a job that needs another input
  gets a fresh child (see `core.engine.supervisor`).
* **Signals and abstract sockets (Landlock ABI 6+):** the child cannot signal or
  connect to processes outside its sandbox.
* **Network:** a new network namespace where unprivileged user namespaces are allowed
  (nothing but a down loopback inside), a seccomp filter that refuses every socket
  family but AF_UNIX (and io_uring, which could open sockets behind seccomp's back,
  and new namespaces), and Landlock's TCP bind/connect rules (ABI 4+).

There is no switch to turn this off. A platform that cannot apply a part still
runs; `sandbox_status()` (shown by ``litesmith devices`` and the About dialog)
says what is missing and why. Only Linux is covered: on macOS and Windows the
child runs unsandboxed, and the status says so.

A small ctypes wrapper over the syscalls rather than a PyPI package: the Landlock
packages were alphas or months-old single-maintainer releases without network or
scope rules at the time of writing, and pyseccomp needs libseccomp.so on the host.
The syscalls live in `core.engine.landlock` and `core.engine.seccomp` (seccomp and the
network namespace); this module holds the policy, applies it and reports the status.
"""

from __future__ import annotations

import functools
import glob
import os
import platform
import sys
from dataclasses import dataclass, field, replace
from multiprocessing.connection import Connection

from core.engine.landlock import landlock_abi, landlock_restrict
from core.engine.seccomp import current_arch, install_seccomp, isolate_network, no_new_privs

# -- what was applied ---------------------------------------------------------------


@dataclass(frozen=True)
class SandboxStatus:
    """What the engine's child is confined by on this machine, and what could not be applied."""

    platform: str
    landlock_abi: int = 0
    filesystem: bool = False  # writes only in scratch, reads only the allowlist
    network: tuple[str, ...] = ()  # the mechanisms that cut the network
    scoped: bool = False  # no signals or abstract-socket connections out of the sandbox
    missing: tuple[str, ...] = field(default_factory=tuple)  # each with its reason
    probed: bool = False  # True: what a child would get (sandbox_status); False: what one got

    @property
    def level(self) -> str:
        """ "full" (files and network confined, nothing missing), "partial" (one of them) or "off"."""
        if self.filesystem and self.network and not self.missing:
            return "full"
        if self.filesystem or self.network:
            return "partial"
        return "off"

    @property
    def summary(self) -> str:
        """One line: the level, what is applied, and what is missing."""
        parts = []
        if self.filesystem:
            parts.append(f"files: Landlock ABI {self.landlock_abi}")
        if self.network:
            parts.append("network: " + " + ".join(self.network))
        applied = "; ".join(parts) if parts else "nothing applied"
        text = f"{self.level} ({applied})"
        if self.missing:
            text += "; missing: " + "; ".join(self.missing)
        return text

    def to_dict(self) -> dict:
        """Plain data for JSON (`litesmith devices --json`): every field, plus `level` and `summary`."""
        return {
            "level": self.level,
            "platform": self.platform,
            "landlock_abi": self.landlock_abi,
            "filesystem": self.filesystem,
            "network": list(self.network),
            "scoped": self.scoped,
            "missing": list(self.missing),
            "summary": self.summary,
        }


_APPLIED: SandboxStatus | None = None


def applied_status() -> SandboxStatus | None:
    """In a sandboxed child: what `apply_sandbox` applied to this process; None elsewhere."""
    return _APPLIED


# -- the policy --------------------------------------------------------------------


@dataclass(frozen=True)
class SandboxPolicy:
    """Which paths the child may use, by access. Missing paths are skipped."""

    scratch: str
    read: tuple[str, ...] = ()  # inputs: read files, list folders
    read_exec: tuple[str, ...] = ()  # the Python installation, code, system libraries
    read_write: tuple[str, ...] = ()  # a few files: /dev/null, /proc/self/clear_refs
    devices: tuple[str, ...] = ()  # GPUs: read, write and ioctl


ETC_FILES = (
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
    "/etc/localtime",
    "/etc/timezone",
    "/etc/nsswitch.conf",
    "/etc/passwd",
    "/etc/group",
    "/etc/os-release",
    "/etc/lsb-release",
    "/etc/ssl/openssl.cnf",
    "/etc/mime.types",
    "/etc/gai.conf",
    "/etc/host.conf",
)
PROC_FILES = (
    "/proc/self",
    "/proc/cpuinfo",
    "/proc/meminfo",
    "/proc/stat",
    "/proc/loadavg",
    "/proc/version",
    "/proc/sys/kernel/osrelease",
    "/proc/sys/vm/overcommit_memory",
    "/proc/driver/nvidia",
    "/sys",
)
DEVICES_READ = ("/dev/urandom", "/dev/random", "/dev/zero", "/dev/full")
SYSTEM_DIRS = ("/usr", "/lib", "/lib64", "/lib32", "/libx32", "/bin", "/sbin", "/opt/conda")


def python_paths() -> list[str]:
    """The Python installation: prefixes, standard library, site-packages, PYTHONPATH.

    Not every sys.path entry: the script's or working folder may hold anything.
    Litesmith's own code and the job modules come in through `code_root`.
    """
    import site
    import sysconfig

    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        value = sysconfig.get_paths().get(key)
        if value:
            paths.add(value)
    try:
        paths.update(site.getsitepackages())
    except AttributeError:
        pass
    if site.ENABLE_USER_SITE and site.USER_SITE:
        paths.add(site.USER_SITE)
    frozen = getattr(sys, "_MEIPASS", None)
    if frozen:
        paths.add(frozen)
    if getattr(sys, "frozen", False):
        paths.add(sys.executable)  # a PyInstaller bundle's modules live in its executable's archive
    paths.update(entry for entry in sys.path if os.path.basename(entry) in ("site-packages", "dist-packages"))
    paths.update(p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if os.path.isabs(p))
    return sorted(p for p in paths if p and os.path.exists(p))


def code_root(module_name: str) -> str | None:
    """The folder a top-level package is imported from (the checkout, or site-packages)."""
    top = module_name.partition(".")[0]
    module = sys.modules.get(top)
    if module is None:
        import importlib.util

        try:
            spec = importlib.util.find_spec(top)
        except (ImportError, ValueError):
            return None
        origin = spec.origin if spec is not None else None
        locations = list(spec.submodule_search_locations or []) if spec is not None else []
    else:
        origin = getattr(module, "__file__", None)
        locations = list(getattr(module, "__path__", []) or [])
    if locations:
        return os.path.dirname(os.path.realpath(locations[0]))
    if origin:
        return os.path.dirname(os.path.realpath(origin))
    return None


def default_policy(scratch: str, inputs: tuple[str, ...] = (), code_roots: tuple[str, ...] = ()) -> SandboxPolicy:
    """The child's rules: `inputs` read-only, `code_roots` (folders of the job modules) and the system readable."""
    roots = {code_root("core"), *code_roots}
    read_exec = tuple(sorted({*SYSTEM_DIRS, *python_paths(), *(r for r in roots if r)}))
    return SandboxPolicy(
        scratch=scratch,
        read=tuple(inputs) + ETC_FILES + PROC_FILES + DEVICES_READ,
        read_exec=read_exec,
        read_write=("/dev/null", "/proc/self/clear_refs"),
        devices=tuple(sorted(glob.glob("/dev/nvidia*") + glob.glob("/dev/nvidia-caps/*"))),
    )


def apply_sandbox(policy: SandboxPolicy) -> SandboxStatus:
    """Confine this process for good; returns what was applied and what was not (never raises).

    Call it while the process has one thread, before any model byte is read.
    """
    global _APPLIED
    plat = sys.platform
    if not plat.startswith("linux"):
        status = _not_linux()
        _APPLIED = status
        return status
    missing: list[str] = []
    network: list[str] = []
    arch = current_arch()
    try:
        no_new_privs()
    except OSError as exc:
        missing.append(f"no_new_privs: {exc.strerror}")
    try:
        isolate_network(arch)
        network.append("network namespace")
    except OSError as exc:
        missing.append(f"network namespace: unprivileged user namespaces are not allowed here ({exc.strerror})")
    if arch is None:
        missing.append(f"seccomp socket filter: not written for {platform.machine()}")
    else:
        try:
            install_seccomp(arch)
            network.append("seccomp socket filter")
        except OSError as exc:
            missing.append(f"seccomp socket filter: {exc.strerror}")
    abi = landlock_abi()
    filesystem = scoped = False
    if abi < 1:
        missing.append(
            "file-system confinement: Landlock is not available on this kernel "
            f"({platform.release()}; needs Linux 5.13+ with Landlock enabled)"
        )
    else:
        try:
            landlock_restrict(policy, abi)
            filesystem = True
            scoped = abi >= 6
            if abi >= 4:
                network.append("Landlock TCP rules")
            if abi < 6:
                missing.append(f"signal and abstract-socket scoping: needs Landlock ABI 6 (this kernel has {abi})")
            if abi < 3:
                missing.append(f"truncating files outside scratch: needs Landlock ABI 3 (this kernel has {abi})")
        except OSError as exc:
            missing.append(f"file-system confinement: Landlock failed ({exc.strerror})")
    status = SandboxStatus(
        platform=plat,
        landlock_abi=abi if filesystem else 0,
        filesystem=filesystem,
        network=tuple(network),
        scoped=scoped,
        missing=tuple(missing),
    )
    _APPLIED = status
    return status


def _probe_main(conn: Connection, scratch: str) -> None:
    conn.send(apply_sandbox(default_policy(scratch)))
    conn.close()


def _not_linux() -> SandboxStatus:
    return SandboxStatus(
        platform=sys.platform,
        missing=(
            f"no OS sandbox on {platform.system() or sys.platform}: the engine's child can read and write what you "
            "can and reach the network (Litesmith's sandbox uses Linux Landlock, namespaces and seccomp)",
        ),
    )


@functools.lru_cache(maxsize=1)
def sandbox_status() -> SandboxStatus:
    """What the engine's child gets on this machine: applied for real in a throw-away child process.

    Cached for the life of this process (a fraction of a second the first time).
    """
    if not sys.platform.startswith("linux"):
        return replace(_not_linux(), probed=True)
    import multiprocessing
    import shutil
    import tempfile

    ctx = multiprocessing.get_context("spawn")
    parent_conn, child_conn = ctx.Pipe(duplex=False)
    scratch = tempfile.mkdtemp(prefix="litesmith-probe-")
    process = ctx.Process(target=_probe_main, args=(child_conn, scratch), name="litesmith-sandbox-probe", daemon=True)
    try:
        process.start()
        child_conn.close()
        if not parent_conn.poll(30):
            raise TimeoutError("no answer in 30 s")
        status = parent_conn.recv()
    except (OSError, EOFError, TimeoutError) as exc:
        status = SandboxStatus(
            platform=sys.platform, missing=(f"could not check the sandbox: {type(exc).__name__}: {exc}",)
        )
    finally:
        parent_conn.close()
        if process.pid is not None:
            process.join(timeout=5)
            if process.is_alive():
                process.kill()
                process.join()
        shutil.rmtree(scratch, ignore_errors=True)
    return replace(status, probed=True)


__all__ = [
    "SandboxPolicy",
    "SandboxStatus",
    "applied_status",
    "apply_sandbox",
    "default_policy",
    "landlock_abi",
    "sandbox_status",
]
