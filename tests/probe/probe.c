/* The runtime probe: runs the checks named on its command line, in order, and prints one line
 * per check: "NAME ok[ DETAILS]" or "NAME errno=N (strerror)[ in STEP]". An unknown name prints
 * "NAME unknown-check" and makes the exit status 2; otherwise it is 0. Built static
 * (gcc -static -O2) by tests/runtime_probe.py, so that it runs in an image with no libc.
 *
 * Every check makes the syscall itself (syscall(2) where glibc has no wrapper or its wrapper
 * would hide the answer), so the errno printed is what the kernel or the seccomp filter said. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <mqueue.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef AF_VSOCK
#define AF_VSOCK 40
#endif
#ifndef SYS_clone3
#define SYS_clone3 435
#endif

static const char *current;

static int ok(const char *details) {
    if (details && *details)
        printf("%s ok %s\n", current, details);
    else
        printf("%s ok\n", current);
    return 0;
}

static int fail(const char *step) {
    int e = errno;
    if (step)
        printf("%s errno=%d (%s) in %s\n", current, e, strerror(e), step);
    else
        printf("%s errno=%d (%s)\n", current, e, strerror(e));
    return 0;
}

/* ok when r is not -1, else the errno. */
static int result(long r) { return r == -1 ? fail(NULL) : ok(NULL); }

/* A child process makes the call and reports its errno through the exit status: for calls that
 * would change the probe itself (traced, other namespaces). */
static int in_child(int (*fn)(void)) {
    pid_t pid = fork();
    if (pid == -1) return fail("fork");
    if (pid == 0) _exit(fn() == -1 ? (errno & 0xff) : 0);
    int status;
    if (waitpid(pid, &status, 0) == -1) return fail("waitpid");
    if (!WIFEXITED(status)) {
        printf("%s child-status=%d\n", current, status);
        return 0;
    }
    errno = WEXITSTATUS(status);
    return errno ? fail(NULL) : ok(NULL);
}

static int traceme(void) { return (int)ptrace(PTRACE_TRACEME, 0, NULL, NULL); }
static int unshare_user(void) { return unshare(CLONE_NEWUSER); }

static int check_ptrace_traceme(void) { return in_child(traceme); }
static int check_unshare_user(void) { return in_child(unshare_user); }

static int check_personality_query(void) {
    int r = personality(0xffffffff);
    if (r == -1) return fail(NULL);
    char buf[32];
    snprintf(buf, sizeof buf, "0x%x", r);
    return ok(buf);
}

static int check_personality_norandom(void) {
    if (personality(ADDR_NO_RANDOMIZE) == -1) return fail("personality(ADDR_NO_RANDOMIZE)");
    int r = personality(0xffffffff);
    if (r == -1) return fail("personality(0xffffffff)");
    if (!(r & ADDR_NO_RANDOMIZE)) {
        printf("%s not-set 0x%x\n", current, r);
        return 0;
    }
    return ok(NULL);
}

static void *thread_main(void *arg) { return arg; }

/* glibc creates threads with clone3 and falls back to clone on ENOSYS. */
static int check_thread(void) {
    pthread_t thread;
    int r = pthread_create(&thread, NULL, thread_main, (void *)"probe");
    if (r != 0) {
        errno = r;
        return fail("pthread_create");
    }
    void *back = NULL;
    if ((r = pthread_join(thread, &back)) != 0) {
        errno = r;
        return fail("pthread_join");
    }
    return back && strcmp(back, "probe") == 0 ? ok(NULL) : (printf("%s wrong-result\n", current), 0);
}

static int check_chroot(void) { return result(chroot("/")); }
static int check_kexec_load(void) { return result(syscall(SYS_kexec_load, 0UL, 0UL, NULL, 0UL)); }

static int check_open_by_handle_at(void) {
    struct { unsigned int bytes; int type; unsigned char h[8]; } handle = {8, 1, {0}};
    long fd = syscall(SYS_open_by_handle_at, AT_FDCWD, &handle, O_RDONLY);
    if (fd >= 0) close((int)fd);
    return result(fd);
}

static int check_bpf(void) {
    unsigned char attr[128] = {0};  /* BPF_MAP_CREATE of an all-zero map: EINVAL if it got through */
    long fd = syscall(SYS_bpf, 0, attr, sizeof attr);
    if (fd >= 0) close((int)fd);
    return result(fd);
}

static int check_clone_newns(void) {
    long pid = syscall(SYS_clone, (unsigned long)(CLONE_NEWNS | SIGCHLD), NULL, NULL, NULL, NULL);
    if (pid == 0) _exit(0);
    if (pid > 0) waitpid((pid_t)pid, NULL, 0);
    return result(pid);
}

static int check_clone3(void) {
    struct clone_args args;
    memset(&args, 0, sizeof args);
    args.exit_signal = SIGCHLD;
    long pid = syscall(SYS_clone3, &args, sizeof args);
    if (pid == 0) _exit(0);
    if (pid > 0) waitpid((pid_t)pid, NULL, 0);
    return result(pid);
}

static int check_keyctl(void) {
    return result(syscall(SYS_keyctl, 0 /* KEYCTL_GET_KEYRING_ID */, -3 /* KEY_SPEC_SESSION_KEYRING */, 0));
}

static int check_add_key(void) {
    return result(syscall(SYS_add_key, "user", "inspectr-probe", "x", 1UL, -2 /* KEY_SPEC_PROCESS_KEYRING */));
}

static int check_mount(void) { return result(mount("none", "/tmp", "tmpfs", 0, NULL)); }

static int check_perf_event_open(void) {
    uint32_t attr[32] = {0};  /* struct perf_event_attr: type 1 (software), size, config 0 (cpu clock) */
    attr[0] = 1;
    attr[1] = sizeof attr;
    long fd = syscall(SYS_perf_event_open, attr, 0, -1, -1, 0UL);
    if (fd >= 0) close((int)fd);
    return result(fd);
}

static int check_socket_vsock(void) {
    int fd = socket(AF_VSOCK, SOCK_STREAM, 0);
    if (fd >= 0) close(fd);
    return result(fd);
}

static int check_devnull_write(void) {
    int fd = open("/dev/null", O_WRONLY);
    if (fd == -1) return fail("open");
    ssize_t n = write(fd, "x", 1);
    close(fd);
    return n == 1 ? ok(NULL) : fail("write");
}

static int check_pty(void) {
    int master = posix_openpt(O_RDWR | O_NOCTTY);
    if (master == -1) return fail("posix_openpt");
    if (grantpt(master) == -1) return fail("grantpt");
    if (unlockpt(master) == -1) return fail("unlockpt");
    char *name = ptsname(master);
    if (name == NULL) return fail("ptsname");
    int slave = open(name, O_RDWR | O_NOCTTY);
    if (slave == -1) return fail("open slave");
    close(slave);
    close(master);
    return ok(name);
}

static int check_shm_open(void) {
    const char *name = "/inspectr-probe";
    int fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL, 0600);
    if (fd == -1) return fail("shm_open");
    if (ftruncate(fd, 4096) == -1) return fail("ftruncate");
    void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) return fail("mmap");
    memcpy(p, "probe", 5);
    munmap(p, 4096);
    close(fd);
    if (shm_unlink(name) == -1) return fail("shm_unlink");
    return ok(NULL);
}

static int check_mqueue(void) {
    const char *name = "/inspectr-probe";
    struct mq_attr attr = {0};
    attr.mq_maxmsg = 1;
    attr.mq_msgsize = 16;
    mqd_t q = mq_open(name, O_RDWR | O_CREAT | O_EXCL, 0600, &attr);
    if (q == (mqd_t)-1) return fail("mq_open");
    if (mq_send(q, "probe", 5, 0) == -1) return fail("mq_send");
    mq_close(q);
    if (mq_unlink(name) == -1) return fail("mq_unlink");
    return ok(NULL);
}

static void limit_text(char *out, size_t size, rlim_t value) {
    if (value == RLIM_INFINITY)
        snprintf(out, size, "unlimited");
    else
        snprintf(out, size, "%llu", (unsigned long long)value);
}

static int check_nofile(void) {
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == -1) return fail(NULL);
    char soft[32], hard[32], buf[80];
    limit_text(soft, sizeof soft, rl.rlim_cur);
    limit_text(hard, sizeof hard, rl.rlim_max);
    snprintf(buf, sizeof buf, "soft=%s hard=%s", soft, hard);
    return ok(buf);
}

static int check_rlimits(void) {
    static const struct { int resource; const char *name; } limits[] = {
        {RLIMIT_CPU, "CPU"}, {RLIMIT_FSIZE, "FSIZE"}, {RLIMIT_DATA, "DATA"}, {RLIMIT_STACK, "STACK"},
        {RLIMIT_CORE, "CORE"}, {RLIMIT_RSS, "RSS"}, {RLIMIT_NPROC, "NPROC"}, {RLIMIT_NOFILE, "NOFILE"},
        {RLIMIT_MEMLOCK, "MEMLOCK"}, {RLIMIT_AS, "AS"}, {RLIMIT_LOCKS, "LOCKS"},
        {RLIMIT_SIGPENDING, "SIGPENDING"}, {RLIMIT_MSGQUEUE, "MSGQUEUE"}, {RLIMIT_NICE, "NICE"},
        {RLIMIT_RTPRIO, "RTPRIO"}, {RLIMIT_RTTIME, "RTTIME"},
    };
    char buf[1024] = "", soft[32], hard[32], one[96];
    for (size_t i = 0; i < sizeof limits / sizeof limits[0]; i++) {
        struct rlimit rl;
        if (getrlimit(limits[i].resource, &rl) == -1) return fail(limits[i].name);
        limit_text(soft, sizeof soft, rl.rlim_cur);
        limit_text(hard, sizeof hard, rl.rlim_max);
        snprintf(one, sizeof one, "%s%s=%s:%s", i ? " " : "", limits[i].name, soft, hard);
        strncat(buf, one, sizeof buf - strlen(buf) - 1);
    }
    return ok(buf);
}

static int check_caps(void) {
    FILE *fp = fopen("/proc/self/status", "r");
    if (fp == NULL) return fail("open /proc/self/status");
    char line[256], buf[512] = "";
    static const char *keys[] = {"CapInh:", "CapPrm:", "CapEff:", "CapBnd:", "CapAmb:", "NoNewPrivs:"};
    while (fgets(line, sizeof line, fp)) {
        for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
            size_t n = strlen(keys[i]);
            if (strncmp(line, keys[i], n) != 0) continue;
            char *value = line + n;
            value += strspn(value, " \t");
            value[strcspn(value, "\n")] = 0;
            char one[96];
            snprintf(one, sizeof one, "%s%.*s=%s", *buf ? " " : "", (int)(n - 1), keys[i], value);
            strncat(buf, one, sizeof buf - strlen(buf) - 1);
        }
    }
    fclose(fp);
    return ok(buf);
}

static int check_hostname(void) {
    struct utsname u;
    if (uname(&u) == -1) return fail(NULL);
    return ok(u.nodename);
}

static int check_mknod_null(void) {
    unlink("/tmp/n");
    if (mknod("/tmp/n", S_IFCHR | 0666, makedev(1, 3)) == -1) return fail("mknod");
    int fd = open("/tmp/n", O_WRONLY);
    if (fd == -1) return fail("open");
    ssize_t n = write(fd, "x", 1);
    close(fd);
    return n == 1 ? ok(NULL) : fail("write");
}

static const struct { const char *name; int (*run)(void); } checks[] = {
    {"ptrace_traceme", check_ptrace_traceme},
    {"personality_query", check_personality_query},
    {"personality_norandom", check_personality_norandom},
    {"chroot", check_chroot},
    {"kexec_load", check_kexec_load},
    {"open_by_handle_at", check_open_by_handle_at},
    {"bpf", check_bpf},
    {"unshare_user", check_unshare_user},
    {"clone_newns", check_clone_newns},
    {"clone3", check_clone3},
    {"keyctl", check_keyctl},
    {"add_key", check_add_key},
    {"mount", check_mount},
    {"perf_event_open", check_perf_event_open},
    {"socket_vsock", check_socket_vsock},
    {"devnull_write", check_devnull_write},
    {"pty", check_pty},
    {"shm_open", check_shm_open},
    {"mqueue", check_mqueue},
    {"nofile", check_nofile},
    {"rlimits", check_rlimits},
    {"caps", check_caps},
    {"hostname", check_hostname},
    {"mknod_null", check_mknod_null},
    {"thread", check_thread},
};

int main(int argc, char **argv) {
    int status = 0;
    setvbuf(stdout, NULL, _IOLBF, 0);
    for (int i = 1; i < argc; i++) {
        size_t j;
        current = argv[i];
        for (j = 0; j < sizeof checks / sizeof checks[0]; j++) {
            if (strcmp(argv[i], checks[j].name) == 0) {
                errno = 0;
                checks[j].run();
                break;
            }
        }
        if (j == sizeof checks / sizeof checks[0]) {
            printf("%s unknown-check\n", argv[i]);
            status = 2;
        }
    }
    return status;
}
