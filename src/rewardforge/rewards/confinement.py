"""Operating-system layers the sandbox processes put around themselves before any reward code runs.

Loaded by ``worker.py`` from its own folder (standard library and ``pyseccomp`` only). Each layer
reports ``[active, detail]``; the parent decides whether a missing layer is fatal (strict mode).

Two kinds of process: the *template* (one per sandbox; it never runs reward code) and one
*program worker* per reward program, forked from the template. ``confine`` sets up the template.
Order matters: resource limits; a new network namespace while still privileged; drop to an
unprivileged user (when root) and a new user namespace; no_new_privs; Landlock with no allowed
path (no file can be opened, created or listed, no TCP, no signals outside its domain); last the
seccomp filter, which kills the process on exec, socket, ptrace and their kind, denies opening
files, and answers EPERM to every system call that is not on its list. The template's filter
also lets it fork, receive descriptors and stack filters; ``confine_program`` then, in each
forked worker, adds a Landlock domain of its own (no signals to the template or its siblings)
and a second seccomp filter that takes exactly those back, so reward code meets the same rules
as before and cannot reach another program's process.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import resource
import signal

CLONE_NEWUSER = 0x10000000
CLONE_NEWNET = 0x40000000
CLONE_THREAD = 0x00010000
PR_SET_PDEATHSIG = 1
PR_SET_NO_NEW_PRIVS = 38
AT_EMPTY_PATH = 0x1000
NOBODY = 65534
SYS_LANDLOCK_CREATE_RULESET = 444
SYS_LANDLOCK_RESTRICT_SELF = 446

#: System calls a running Python + numpy needs (memory, time, signals, its own pipes).
ALLOWED = (  # noqa: SIM905 - one string reads better than 70 quoted names
    "read readv pread64 write writev pwrite64 lseek close close_range dup dup2 dup3 fcntl "
    "mmap munmap mremap mprotect madvise brk msync mbind get_mempolicy set_mempolicy futex "
    "futex_waitv set_robust_list get_robust_list rseq set_tid_address membarrier rt_sigaction "
    "rt_sigprocmask rt_sigreturn rt_sigpending rt_sigtimedwait rt_sigsuspend sigaltstack "
    "restart_syscall setitimer getitimer alarm pause clock_gettime clock_getres "
    "clock_nanosleep nanosleep gettimeofday time getrandom getpid gettid getppid getuid "
    "geteuid getgid getegid getgroups getresuid getresgid sched_yield sched_getaffinity "
    "getrusage times sysinfo uname getcpu arch_prctl poll ppoll select pselect6 exit "
    "exit_group"
).split()

#: System calls that end the worker at once (the program is then quarantined).
KILLED = (  # noqa: SIM905
    "execve execveat fork vfork socket socketpair connect bind listen accept accept4 ptrace "
    "process_vm_readv process_vm_writev tkill setrlimit unshare setns mount umount2 "
    "pivot_root chroot bpf perf_event_open keyctl add_key request_key userfaultfd init_module "
    "finit_module delete_module kexec_load kexec_file_load reboot swapon swapoff "
    "io_uring_setup io_uring_enter io_uring_register pidfd_open pidfd_send_signal pidfd_getfd "
    "open_by_handle_at name_to_handle_at personality memfd_create seccomp prctl setuid setgid "
    "setreuid setregid setresuid setresgid setgroups capset"
).split()

#: File creation and opening: refused with EACCES (an ordinary PermissionError in Python).
DENIED_FILES = ["open", "openat", "openat2", "creat"]

#: What only the template may do (fork program workers, receive their descriptors, reap them,
#: confine them further); the filter of every program worker kills the process on each of them.
TEMPLATE_ONLY = (  # noqa: SIM905
    "wait4 waitid recvmsg sendmsg recvfrom sendto seccomp prctl landlock_create_ruleset "
    "landlock_add_rule landlock_restrict_self"
).split()
#: prctl options the template may use (parent-death signal, no_new_privs, seccomp).
PR_GET_SECCOMP, PR_SET_SECCOMP, PR_GET_NO_NEW_PRIVS = 21, 22, 39
TEMPLATE_PRCTL = (
    PR_SET_PDEATHSIG,
    PR_GET_SECCOMP,
    PR_SET_SECCOMP,
    PR_SET_NO_NEW_PRIVS,
    PR_GET_NO_NEW_PRIVS,
)


def _libc() -> ctypes.CDLL:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    return libc


def set_limits(config: dict) -> list:
    memory = int(config["memory_mb"]) * 1024 * 1024
    cpu = int(config["cpu_s"])
    nofile = int(config.get("nofile", 32))
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    return [True, f"memory {config['memory_mb']} MiB, CPU {cpu} s, {nofile} files, file size 0"]


def isolate_network(libc: ctypes.CDLL) -> tuple[list, list]:
    """A new network namespace (no interfaces) and an unprivileged user; returns both layers."""
    if os.geteuid() == 0:
        net_ok = libc.unshare(CLONE_NEWNET) == 0
        net_err = ctypes.get_errno()
        os.setgroups([])
        os.setresgid(NOBODY, NOBODY, NOBODY)
        os.setresuid(NOBODY, NOBODY, NOBODY)
        user_ns = libc.unshare(CLONE_NEWUSER) == 0
        user = [True, "dropped root to uid 65534" + (", new user namespace" if user_ns else "")]
    else:
        net_ok = libc.unshare(CLONE_NEWUSER | CLONE_NEWNET) == 0
        net_err = ctypes.get_errno()
        user = [net_ok, "new user namespace" if net_ok else "cannot create a user namespace"]
    if net_ok:
        net = [True, "new network namespace: no interfaces, no route out"]
    else:
        net = [False, f"unshare(CLONE_NEWNET) failed: {os.strerror(net_err)}"]
    return net, user


def no_new_privs(libc: ctypes.CDLL) -> list:
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        return [False, os.strerror(ctypes.get_errno())]
    return [True, "set"]


def landlock_abi(libc: ctypes.CDLL) -> int:
    abi = libc.syscall(SYS_LANDLOCK_CREATE_RULESET, None, ctypes.c_size_t(0), ctypes.c_uint32(1))
    return int(abi) if abi > 0 else 0


def apply_landlock(libc: ctypes.CDLL) -> list:
    """A ruleset that handles every access right the kernel knows and allows none of them."""
    abi = landlock_abi(libc)
    if abi <= 0:
        return [False, "kernel has no Landlock (or it is disabled)"]
    fs = (1 << 13) - 1
    fs |= (1 << 13) if abi >= 2 else 0  # REFER
    fs |= (1 << 14) if abi >= 3 else 0  # TRUNCATE
    fs |= (1 << 15) if abi >= 5 else 0  # IOCTL_DEV
    net = 0b11 if abi >= 4 else 0  # BIND_TCP, CONNECT_TCP
    scoped = 0b11 if abi >= 6 else 0  # abstract unix sockets, signals
    attr = (ctypes.c_uint64 * 3)(fs, net, scoped)
    size = 8 if abi < 4 else 16 if abi < 6 else 24
    fd = libc.syscall(
        SYS_LANDLOCK_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(size), ctypes.c_uint32(0)
    )
    if fd < 0:
        return [False, f"landlock_create_ruleset failed: {os.strerror(ctypes.get_errno())}"]
    result = libc.syscall(SYS_LANDLOCK_RESTRICT_SELF, ctypes.c_int(fd), ctypes.c_uint32(0))
    os.close(fd)
    if result != 0:
        return [False, f"landlock_restrict_self failed: {os.strerror(ctypes.get_errno())}"]
    parts = ["no file access"]
    if net:
        parts.append("no TCP")
    if scoped:
        parts.append("no signals or abstract sockets outside the worker")
    return [True, f"ABI {abi}: " + ", ".join(parts)]


def _rules(filt):  # noqa: ANN001, ANN202 - a pyseccomp SyscallFilter
    def rule(action: int, name: str, *args: object) -> None:
        with contextlib.suppress(OSError, ValueError, RuntimeError):  # unknown on this arch
            filt.add_rule(action, name, *args)

    return rule


def apply_seccomp(sc, *, template: bool = False) -> list:  # noqa: ANN001 - pyseccomp or why not
    """The filter of a process that runs reward code; with ``template``, the template's filter,
    which also allows what only the template needs (``TEMPLATE_ONLY``, fork, any signal within
    its Landlock domain): every program worker stacks ``program_filter`` on top of it."""
    if isinstance(sc, str):
        return [False, f"pyseccomp / libseccomp unavailable: {sc}"]
    pid = os.getpid()
    filt = sc.SyscallFilter(defaction=sc.ERRNO(errno.EPERM))
    rule = _rules(filt)
    for name in ALLOWED:
        rule(sc.ALLOW, name)
    for name in KILLED:
        if not (template and name in TEMPLATE_ONLY):
            rule(sc.KILL_PROCESS, name)
    if template:
        for name in TEMPLATE_ONLY:
            if name != "prctl":
                rule(sc.ALLOW, name)
        for option in TEMPLATE_PRCTL:
            rule(sc.ALLOW, "prctl", sc.Arg(0, sc.EQ, option))
    for name in DENIED_FILES:
        rule(sc.ERRNO(errno.EACCES), name)
    # fstat() is fstatat(fd, "", AT_EMPTY_PATH) in glibc: allow that form only, not paths.
    rule(sc.ALLOW, "newfstatat", sc.Arg(3, sc.MASKED_EQ, AT_EMPTY_PATH, AT_EMPTY_PATH))
    rule(sc.ALLOW, "fstat")
    rule(sc.ALLOW, "statx", sc.Arg(2, sc.MASKED_EQ, AT_EMPTY_PATH, AT_EMPTY_PATH))
    # threads yes, processes no (the template forks); clone3 hides its flags, so glibc is told
    # to fall back to clone.
    rule(sc.ALLOW, "clone", sc.Arg(0, sc.MASKED_EQ, CLONE_THREAD, CLONE_THREAD))
    fork = sc.ALLOW if template else sc.KILL_PROCESS
    rule(fork, "clone", sc.Arg(0, sc.MASKED_EQ, CLONE_THREAD, 0))
    rule(sc.ERRNO(errno.ENOSYS), "clone3")
    if template:  # signals within its Landlock domain; each program worker narrows this
        for name in ("kill", "tgkill"):
            rule(sc.ALLOW, name)
    else:
        _signal_self_only(sc, rule, pid)
    rule(sc.ALLOW, "prlimit64", sc.Arg(2, sc.EQ, 0))  # read limits, never set them
    rule(sc.KILL_PROCESS, "prlimit64", sc.Arg(2, sc.NE, 0))
    try:
        filt.load()
    except OSError as exc:
        return [False, f"seccomp_load failed: {exc}"]
    if template:
        return [True, "kill on exec, socket, ptrace; no file opens; forks only program workers"]
    return [True, "kill on exec, fork, socket, ptrace, signals to others; no file opens"]


def _signal_self_only(sc, rule, pid: int) -> None:  # noqa: ANN001
    for name in ("kill", "tgkill"):
        rule(sc.ALLOW, name, sc.Arg(0, sc.EQ, pid))
        rule(sc.KILL_PROCESS, name, sc.Arg(0, sc.NE, pid))


def program_filter(sc) -> None:  # noqa: ANN001 - the pyseccomp module
    """Stacked on the template's filter in a program worker: what the template may do and a
    program may not (fork, reap, descriptors over sockets, prctl, new filters, signals to any
    other process) kills the process. Raises ``OSError`` when it cannot be loaded."""
    filt = sc.SyscallFilter(defaction=sc.ALLOW)  # the template's filter still applies below
    rule = _rules(filt)
    for name in TEMPLATE_ONLY:
        rule(sc.KILL_PROCESS, name)
    rule(sc.KILL_PROCESS, "clone", sc.Arg(0, sc.MASKED_EQ, CLONE_THREAD, 0))
    _signal_self_only(sc, rule, os.getpid())
    filt.load()


def confine_program(sc, landlock: bool, libc: ctypes.CDLL | None = None) -> None:  # noqa: ANN001
    """In a program worker just forked from the template, before any reward code: die with the
    template, a Landlock domain of its own (when the template has Landlock) and the program
    filter (when the template has seccomp). Raises ``OSError`` on any failure."""
    libc = libc or _libc()
    if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    if landlock:
        active, detail = apply_landlock(libc)
        if not active:
            raise OSError(errno.EPERM, detail)
    if not isinstance(sc, str):
        program_filter(sc)


def load_seccomp():  # noqa: ANN201 - the pyseccomp module, or why it is missing
    try:  # imported before Landlock closes the file system
        import pyseccomp as sc
    except (ImportError, OSError) as exc:
        return str(exc)
    return sc


def confine(config: dict, *, template: bool = False) -> dict:
    """Apply every layer this machine supports; returns ``{layer: [active, detail]}``."""
    sc = load_seccomp()
    libc = _libc()
    layers: dict[str, list] = {"resource limits": set_limits(config)}
    try:
        layers["network namespace"], layers["unprivileged user"] = isolate_network(libc)
    except OSError as exc:
        layers["network namespace"] = [False, str(exc)]
        layers["unprivileged user"] = [False, str(exc)]
    layers["no_new_privs"] = no_new_privs(libc)
    layers["landlock"] = apply_landlock(libc)
    layers["seccomp"] = apply_seccomp(sc, template=template)
    return layers
