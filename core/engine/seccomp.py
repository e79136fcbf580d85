"""The child's syscall-level confinement: a seccomp filter, a new network namespace, no new privileges.

The seccomp filter refuses every socket family but AF_UNIX, io_uring, new namespaces,
bpf, userfaultfd and the key syscalls (`seccomp_program`); `isolate_network` moves the
process into a new user and network namespace (only a down loopback inside). Also the
small ctypes syscall wrapper that `core.engine.landlock` uses. Linux only (x86_64, aarch64);
applied by `core.engine.sandbox.apply_sandbox`.
"""

from __future__ import annotations

import ctypes
import errno as errno_mod
import functools
import os
import platform
import struct
from dataclasses import dataclass
from typing import Any

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
class Arch:
    """One CPU architecture's numbers: the audit arch id and the syscall numbers the filter checks or denies."""

    audit: int
    seccomp: int
    capset: int
    socket: int
    clone: int
    unshare: int
    setns: int
    denied: tuple[
        int, ...
    ]  # io_uring_setup/enter/register, clone3 (ENOSYS: libc falls back to clone), bpf, userfaultfd, keyctl, add_key, request_key
    x32_bit: int = 0


ARCHES = {
    "x86_64": Arch(
        audit=0xC000003E,
        seccomp=317,
        capset=126,
        socket=41,
        clone=56,
        unshare=272,
        setns=308,
        denied=(425, 426, 427, 435, 321, 323, 250, 248, 249),
        x32_bit=0x40000000,
    ),
    "aarch64": Arch(
        audit=0xC00000B7,
        seccomp=277,
        capset=91,
        socket=198,
        clone=220,
        unshare=97,
        setns=268,
        denied=(425, 426, 427, 435, 280, 282, 219, 217, 218),
    ),
}
ARCHES["amd64"] = ARCHES["x86_64"]
ARCHES["arm64"] = ARCHES["aarch64"]
CLONE3 = 435


def current_arch() -> Arch | None:
    """This machine's `Arch` (x86_64/amd64, aarch64/arm64), or None where the filter is not supported."""
    return ARCHES.get(platform.machine().lower())


@functools.lru_cache(maxsize=1)
def libc() -> ctypes.CDLL:
    """The process's C library (ctypes, errno kept), loaded once."""
    return ctypes.CDLL(None, use_errno=True)


def syscall(number: int, *args: Any) -> int:
    """`syscall(number, *args)` through libc (args as ctypes values); raises OSError with errno on a negative result."""
    lib = libc()
    lib.syscall.restype = ctypes.c_long
    result = lib.syscall(ctypes.c_long(number), *args)
    if result < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return result


def no_new_privs() -> None:
    """prctl(PR_SET_NO_NEW_PRIVS): this process and its children can never gain privileges (OSError on failure)."""
    if libc().prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def _write_proc(path: str, text: str) -> None:
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def _drop_capabilities(arch: Arch) -> None:
    """capset(2) to nothing: no capability left in the new user namespace."""
    header = struct.pack("=Ii", 0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3, this process
    data = bytes(24)  # two {effective, permitted, inheritable}, all zero
    syscall(arch.capset, ctypes.c_char_p(header), ctypes.c_char_p(data))


def isolate_network(arch: Arch | None) -> None:
    """A new user and network namespace (only a down loopback inside); capabilities dropped.

    Must run while the process has a single thread (the kernel refuses otherwise).
    """
    uid, gid = os.getuid(), os.getgid()
    if libc().unshare(CLONE_NEWUSER | CLONE_NEWNET) != 0:
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


def seccomp_program(arch: Arch) -> bytes:
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
    code: list[tuple] = [("ld", 4), ("jeq", arch.audit, None, eperm), ("ld", 0)]
    if arch.x32_bit:
        code.append(("jge", arch.x32_bit, eperm, None))
    code += [
        ("jeq", arch.socket, "socket", None),
        ("jeq", arch.clone, "clone", None),
        ("jeq", arch.unshare, eperm, None),
        ("jeq", arch.setns, eperm, None),
        ("jeq", CLONE3, enosys, None),
    ]
    code += [("jeq", nr, eperm, None) for nr in arch.denied if nr != CLONE3]
    code += [
        ("ret", allow),
        ("label", "socket"),
        ("ld", 16),
        ("jeq", AF_UNIX, allow, eacces),
        ("label", "clone"),
        ("ld", 16),
        ("jset", CLONE_NEW_ANY, eperm, allow),
        ("label", allow),
        ("ret", allow),
        ("label", eacces),
        ("ret", eacces),
        ("label", eperm),
        ("ret", eperm),
        ("label", enosys),
        ("ret", enosys),
    ]
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

            def offset(target: str | None) -> int:
                if target is None:
                    return 0
                jump = labels[target] - index - 1
                if not 0 <= jump <= 255:
                    raise ValueError("seccomp jump out of range")
                return jump

            prog.append(_bpf(opcode, item[1], offset(item[2]), offset(item[3])))
        index += 1
    return b"".join(prog)


def install_seccomp(arch: Arch) -> None:
    """Install `seccomp_program(arch)` on every thread of this process (TSYNC), for good; OSError on failure."""
    program = seccomp_program(arch)
    buffer = ctypes.create_string_buffer(program, len(program))
    fprog = struct.pack("=HxxxxxxQ", len(program) // 8, ctypes.addressof(buffer))
    syscall(
        arch.seccomp,
        ctypes.c_uint(SECCOMP_SET_MODE_FILTER),
        ctypes.c_uint(SECCOMP_FILTER_FLAG_TSYNC),
        ctypes.c_char_p(fprog),
    )
