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
"""

from __future__ import annotations

import ctypes
import errno as errno_mod
import functools
import glob
import os
import platform
import stat
import struct
import sys
from dataclasses import dataclass, field, replace

# -- Landlock (include/uapi/linux/landlock.h) -------------------------------------

SYS_LANDLOCK_CREATE_RULESET = 444  # the same number on every architecture
SYS_LANDLOCK_ADD_RULE = 445
SYS_LANDLOCK_RESTRICT_SELF = 446
LANDLOCK_CREATE_RULESET_VERSION = 1
LANDLOCK_RULE_PATH_BENEATH = 1

FS_EXECUTE = 1 << 0
FS_WRITE_FILE = 1 << 1
FS_READ_FILE = 1 << 2
FS_READ_DIR = 1 << 3
FS_REMOVE_DIR = 1 << 4
FS_REMOVE_FILE = 1 << 5
FS_MAKE_CHAR = 1 << 6
FS_MAKE_DIR = 1 << 7
FS_MAKE_REG = 1 << 8
FS_MAKE_SOCK = 1 << 9
FS_MAKE_FIFO = 1 << 10
FS_MAKE_BLOCK = 1 << 11
FS_MAKE_SYM = 1 << 12
FS_REFER = 1 << 13  # ABI 2
FS_TRUNCATE = 1 << 14  # ABI 3
FS_IOCTL_DEV = 1 << 15  # ABI 5
NET_BIND_TCP = 1 << 0  # ABI 4
NET_CONNECT_TCP = 1 << 1
SCOPE_ABSTRACT_UNIX_SOCKET = 1 << 0  # ABI 6
SCOPE_SIGNAL = 1 << 1

_FS_ABI1 = (1 << 13) - 1
FILE_ONLY_RIGHTS = FS_EXECUTE | FS_WRITE_FILE | FS_READ_FILE | FS_TRUNCATE | FS_IOCTL_DEV
READ = FS_READ_FILE | FS_READ_DIR
READ_EXEC = READ | FS_EXECUTE
SCRATCH = (FS_WRITE_FILE | FS_READ_FILE | FS_READ_DIR | FS_REMOVE_DIR | FS_REMOVE_FILE | FS_MAKE_DIR
           | FS_MAKE_REG | FS_MAKE_SYM | FS_MAKE_FIFO | FS_MAKE_SOCK | FS_REFER | FS_TRUNCATE)


def handled_fs(abi: int) -> int:
    rights = _FS_ABI1
    if abi >= 2:
        rights |= FS_REFER
    if abi >= 3:
        rights |= FS_TRUNCATE
    if abi >= 5:
        rights |= FS_IOCTL_DEV
    return rights


class _RulesetAttr(ctypes.Structure):
    _fields_ = [("handled_access_fs", ctypes.c_uint64), ("handled_access_net", ctypes.c_uint64),
                ("scoped", ctypes.c_uint64)]


class _PathBeneathAttr(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


# -- seccomp and friends ---------------------------------------------------------

PR_SET_NO_NEW_PRIVS = 38
SECCOMP_SET_MODE_FILTER = 1
SECCOMP_FILTER_FLAG_TSYNC = 1
SECCOMP_RET_ALLOW = 0x7FFF0000
SECCOMP_RET_ERRNO = 0x00050000
CLONE_NEWUSER = 0x10000000
CLONE_NEWNET = 0x40000000
# CLONE_NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET (clone()'s low byte is the exit signal)
CLONE_NEW_ANY = 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | CLONE_NEWUSER | 0x20000000 | CLONE_NEWNET
AF_UNIX = 1


@dataclass(frozen=True)
class _Arch:
    audit: int
    seccomp: int
    capset: int
    socket: int
    clone: int
    unshare: int
    setns: int
    denied: tuple[int, ...]  # io_uring_setup/enter/register, clone3 (ENOSYS: libc falls back to clone), bpf, userfaultfd, keyctl, add_key, request_key
    x32_bit: int = 0


_ARCHES = {
    "x86_64": _Arch(audit=0xC000003E, seccomp=317, capset=126, socket=41, clone=56, unshare=272, setns=308,
                    denied=(425, 426, 427, 435, 321, 323, 250, 248, 249), x32_bit=0x40000000),
    "aarch64": _Arch(audit=0xC00000B7, seccomp=277, capset=91, socket=198, clone=220, unshare=97, setns=268,
                     denied=(425, 426, 427, 435, 280, 282, 219, 217, 218)),
}
_ARCHES["amd64"] = _ARCHES["x86_64"]
_ARCHES["arm64"] = _ARCHES["aarch64"]
CLONE3 = 435


def _arch() -> _Arch | None:
    return _ARCHES.get(platform.machine().lower())


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
        return {"level": self.level, "platform": self.platform, "landlock_abi": self.landlock_abi,
                "filesystem": self.filesystem, "network": list(self.network), "scoped": self.scoped,
                "missing": list(self.missing), "summary": self.summary}


_APPLIED: SandboxStatus | None = None


def applied_status() -> SandboxStatus | None:
    """In a sandboxed child: what `apply_sandbox` applied to this process; None elsewhere."""
    return _APPLIED


# -- syscalls ------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def _libc():
    return ctypes.CDLL(None, use_errno=True)


def _syscall(number: int, *args) -> int:
    libc = _libc()
    libc.syscall.restype = ctypes.c_long
    result = libc.syscall(ctypes.c_long(number), *args)
    if result < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return result


def landlock_abi() -> int:
    """The kernel's Landlock ABI version; 0 when Landlock is absent or disabled."""
    if not sys.platform.startswith("linux"):
        return 0
    try:
        return _syscall(SYS_LANDLOCK_CREATE_RULESET, None, ctypes.c_size_t(0),
                        ctypes.c_uint32(LANDLOCK_CREATE_RULESET_VERSION))
    except OSError:
        return 0


def _no_new_privs() -> None:
    if _libc().prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def _write_proc(path: str, text: str) -> None:
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def _drop_capabilities(arch: _Arch) -> None:
    """capset(2) to nothing: no capability left in the new user namespace."""
    header = struct.pack("=Ii", 0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3, this process
    data = bytes(24)  # two {effective, permitted, inheritable}, all zero
    _syscall(arch.capset, ctypes.c_char_p(header), ctypes.c_char_p(data))


def isolate_network(arch: _Arch | None) -> None:
    """A new user and network namespace (only a down loopback inside); capabilities dropped.

    Must run while the process has a single thread (the kernel refuses otherwise).
    """
    uid, gid = os.getuid(), os.getgid()
    if _libc().unshare(CLONE_NEWUSER | CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    # Keep the same ids inside, so files and os.getuid() look as before.
    try:
        _write_proc("/proc/self/setgroups", "deny")
    except OSError:
        pass
    _write_proc("/proc/self/uid_map", f"{uid} {uid} 1")
    _write_proc("/proc/self/gid_map", f"{gid} {gid} 1")
    if arch is not None:
        _drop_capabilities(arch)


def _bpf(code: int, k: int, jt: int = 0, jf: int = 0) -> bytes:
    return struct.pack("=HBBI", code, jt, jf, k)


_LD_W_ABS, _JEQ_K, _JSET_K, _JGE_K, _RET_K = 0x20, 0x15, 0x45, 0x35, 0x06


def seccomp_program(arch: _Arch) -> bytes:
    """The filter: socket() only for AF_UNIX; no io_uring, no new namespaces, no bpf/userfaultfd/keys.

    seccomp_data: int nr (offset 0), u32 arch (4), u64 ip (8), u64 args[6] (16...).
    A syscall of another ABI (x32, or a 32-bit one) is refused outright.
    """
    deny_eacces = SECCOMP_RET_ERRNO | errno_mod.EACCES
    deny_eperm = SECCOMP_RET_ERRNO | errno_mod.EPERM
    deny_enosys = SECCOMP_RET_ERRNO | errno_mod.ENOSYS
    prog: list[bytes] = []
    allow, eacces, eperm, enosys = "allow", "eacces", "eperm", "enosys"
    # (instruction, jump targets) pairs resolved below, so offsets stay right when edited.
    code: list[tuple] = [
        ("ld", 4),
        ("jeq", arch.audit, None, eperm),
        ("ld", 0),
    ]
    if arch.x32_bit:
        code.append(("jge", arch.x32_bit, eperm, None))
    code += [("jeq", arch.socket, "socket", None),
             ("jeq", arch.clone, "clone", None),
             ("jeq", arch.unshare, eperm, None),
             ("jeq", arch.setns, eperm, None),
             ("jeq", CLONE3, enosys, None)]
    code += [("jeq", nr, eperm, None) for nr in arch.denied if nr != CLONE3]
    code += [("ret", allow),
             ("label", "socket"), ("ld", 16), ("jeq", AF_UNIX, allow, eacces),
             ("label", "clone"), ("ld", 16), ("jset", CLONE_NEW_ANY, eperm, allow),
             ("label", allow), ("ret", allow),
             ("label", eacces), ("ret", eacces),
             ("label", eperm), ("ret", eperm),
             ("label", enosys), ("ret", enosys)]
    values = {allow: SECCOMP_RET_ALLOW, eacces: deny_eacces, eperm: deny_eperm, enosys: deny_enosys}
    labels: dict[str, int] = {}
    index = 0
    for item in code:
        if item[0] == "label":
            labels[item[1]] = index
        else:
            index += 1
    index = 0
    for item in code:
        op = item[0]
        if op == "label":
            continue
        if op == "ld":
            prog.append(_bpf(_LD_W_ABS, item[1]))
        elif op == "ret":
            prog.append(_bpf(_RET_K, values[item[1]]))
        else:
            opcode = {"jeq": _JEQ_K, "jge": _JGE_K, "jset": _JSET_K}[op]

            def offset(target):
                if target is None:
                    return 0
                jump = labels[target] - index - 1
                if not 0 <= jump <= 255:
                    raise ValueError("seccomp jump out of range")
                return jump

            prog.append(_bpf(opcode, item[1], offset(item[2]), offset(item[3])))
        index += 1
    return b"".join(prog)


def install_seccomp(arch: _Arch) -> None:
    program = seccomp_program(arch)
    buffer = ctypes.create_string_buffer(program, len(program))
    fprog = struct.pack("=HxxxxxxQ", len(program) // 8, ctypes.addressof(buffer))
    _syscall(arch.seccomp, ctypes.c_uint(SECCOMP_SET_MODE_FILTER), ctypes.c_uint(SECCOMP_FILTER_FLAG_TSYNC),
             ctypes.c_char_p(fprog))


# -- the policy --------------------------------------------------------------------


@dataclass(frozen=True)
class SandboxPolicy:
    """Which paths the child may use, by access. Missing paths are skipped."""

    scratch: str
    read: tuple[str, ...] = ()  # inputs: read files, list folders
    read_exec: tuple[str, ...] = ()  # the Python installation, code, system libraries
    read_write: tuple[str, ...] = ()  # a few files: /dev/null, /proc/self/clear_refs
    devices: tuple[str, ...] = ()  # GPUs: read, write and ioctl


ETC_FILES = ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/localtime", "/etc/timezone",
             "/etc/nsswitch.conf", "/etc/passwd", "/etc/group", "/etc/os-release", "/etc/lsb-release",
             "/etc/ssl/openssl.cnf", "/etc/mime.types", "/etc/gai.conf", "/etc/host.conf")
PROC_FILES = ("/proc/self", "/proc/cpuinfo", "/proc/meminfo", "/proc/stat", "/proc/loadavg", "/proc/version",
              "/proc/sys/kernel/osrelease", "/proc/sys/vm/overcommit_memory", "/proc/driver/nvidia", "/sys")
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
        paths.add(sys.executable)       # a PyInstaller bundle's modules live in its executable's archive
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


def _landlock_restrict(policy: SandboxPolicy, abi: int) -> None:
    handled = handled_fs(abi)
    attr = _RulesetAttr(handled_access_fs=handled,
                        handled_access_net=(NET_BIND_TCP | NET_CONNECT_TCP) if abi >= 4 else 0,
                        scoped=(SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL) if abi >= 6 else 0)
    size = ctypes.sizeof(_RulesetAttr) if abi >= 6 else (16 if abi >= 4 else 8)
    ruleset = _syscall(SYS_LANDLOCK_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(size), ctypes.c_uint32(0))
    try:
        rules = [(p, READ) for p in policy.read] + [(p, READ_EXEC) for p in policy.read_exec]
        rules += [(p, FS_READ_FILE | FS_WRITE_FILE | FS_TRUNCATE) for p in policy.read_write]
        rules += [(p, FS_READ_FILE | FS_WRITE_FILE | FS_IOCTL_DEV) for p in policy.devices]
        rules.append((policy.scratch, SCRATCH))
        for path, access in rules:
            try:
                fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
            except OSError:
                continue  # not on this machine
            try:
                allowed = access & handled
                if not stat.S_ISDIR(os.fstat(fd).st_mode):
                    allowed &= FILE_ONLY_RIGHTS
                if not allowed:
                    continue
                rule = _PathBeneathAttr(allowed_access=allowed, parent_fd=fd)
                _syscall(SYS_LANDLOCK_ADD_RULE, ctypes.c_int(ruleset), ctypes.c_int(LANDLOCK_RULE_PATH_BENEATH),
                         ctypes.byref(rule), ctypes.c_uint32(0))
            finally:
                os.close(fd)
        _syscall(SYS_LANDLOCK_RESTRICT_SELF, ctypes.c_int(ruleset), ctypes.c_uint32(0))
    finally:
        os.close(ruleset)


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
    arch = _arch()
    try:
        _no_new_privs()
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
        missing.append("file-system confinement: Landlock is not available on this kernel "
                       f"({platform.release()}; needs Linux 5.13+ with Landlock enabled)")
    else:
        try:
            _landlock_restrict(policy, abi)
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
    status = SandboxStatus(platform=plat, landlock_abi=abi if filesystem else 0, filesystem=filesystem,
                           network=tuple(network), scoped=scoped, missing=tuple(missing))
    _APPLIED = status
    return status


def _probe_main(conn, scratch: str) -> None:
    conn.send(apply_sandbox(default_policy(scratch)))
    conn.close()


def _not_linux() -> SandboxStatus:
    return SandboxStatus(platform=sys.platform, missing=(
        f"no OS sandbox on {platform.system() or sys.platform}: the engine's child can read and write what you "
        "can and reach the network (Litesmith's sandbox uses Linux Landlock, namespaces and seccomp)",))


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
    process = ctx.Process(target=_probe_main, args=(child_conn, scratch), name="litesmith-sandbox-probe",
                          daemon=True)
    try:
        process.start()
        child_conn.close()
        if not parent_conn.poll(30):
            raise TimeoutError("no answer in 30 s")
        status = parent_conn.recv()
    except (OSError, EOFError, TimeoutError) as exc:
        status = SandboxStatus(platform=sys.platform,
                               missing=(f"could not check the sandbox: {type(exc).__name__}: {exc}",))
    finally:
        parent_conn.close()
        if process.pid is not None:
            process.join(timeout=5)
            if process.is_alive():
                process.kill()
                process.join()
        shutil.rmtree(scratch, ignore_errors=True)
    return replace(status, probed=True)


__all__ = ["SandboxPolicy", "SandboxStatus", "applied_status", "apply_sandbox", "default_policy", "landlock_abi",
           "sandbox_status"]
