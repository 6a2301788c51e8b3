/*
 * Live heap bytes by size, for idle-memory investigations (Benchmarks/idle_heap.py).
 *
 * LD_PRELOAD this into a server: every malloc/calloc/realloc/memalign/free updates a count of
 * live blocks and bytes per 16-byte class of glibc's usable size. SIGUSR2 writes the table to
 * $LIVEMEM_DIR/livemem-PID.txt ("class count bytes" per line). With LIVEMEM_SIZE=N, SIGUSR1
 * starts recording the stack (backtrace) of the next 64 blocks of usable size N; those still
 * live at SIGUSR2 go to traces-PID.txt, and /proc/PID/maps to maps-PID.txt, for
 * idle_heap.py --trace to symbolize. LIVEMEM_SIZE=0 traces blocks of any size, and
 * LIVEMEM_EVERY=K records only every K-th matching block (a sample spread over the whole run
 * rather than its first blocks). Experiment tooling: not for production processes (the
 * signal handler writes files).
 *
 *   gcc -shared -fPIC -O2 -o /tmp/livemem.so livemem.c
 */
#define _GNU_SOURCE
#include <errno.h>
#include <execinfo.h>
#include <fcntl.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

extern void *__libc_malloc(size_t);
extern void __libc_free(void *);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);

#define CLASSES 260
#define TRACES 4096
static long live_count[CLASSES], live_bytes[CLASSES];
static __thread int in_hook;
static void *traced[TRACES];
static void *traces[TRACES][16];
static int trace_len[TRACES];
static int ntraces;
static long want = -1;
static long every = 1;
static long seen;

static int size_class(size_t n) {
    size_t c = n / 16;
    return c < CLASSES - 1 ? (int)c : CLASSES - 1;
}

static void record(void *p) {
    if (want < 0 || in_hook || (want > 0 && malloc_usable_size(p) != (size_t)want)) return;
    if (__atomic_fetch_add(&seen, 1, __ATOMIC_RELAXED) % every != 0) return;
    int i = __atomic_fetch_add(&ntraces, 1, __ATOMIC_RELAXED);
    if (i >= TRACES) return;
    in_hook = 1;  /* backtrace() may allocate on its first call */
    trace_len[i] = backtrace(traces[i], 16);
    traced[i] = p;
    in_hook = 0;
}

static void count(void *p, int sign) {
    if (!p) return;
    size_t n = malloc_usable_size(p);
    int c = size_class(n);
    __atomic_fetch_add(&live_count[c], sign, __ATOMIC_RELAXED);
    __atomic_fetch_add(&live_bytes[c], sign * (long)n, __ATOMIC_RELAXED);
    if (sign > 0) {
        record(p);
    } else if (want >= 0) {
        for (int i = 0; i < TRACES; i++)
            if (traced[i] == p) traced[i] = 0;
    }
}

void *malloc(size_t n) { void *p = __libc_malloc(n); count(p, 1); return p; }
void *calloc(size_t a, size_t b) { void *p = __libc_calloc(a, b); count(p, 1); return p; }
void free(void *p) { count(p, -1); __libc_free(p); }
void *realloc(void *p, size_t n) {
    count(p, -1);
    void *q = __libc_realloc(p, n);
    count(q ? q : p, 1);
    return q;
}
void *memalign(size_t a, size_t n) { void *p = __libc_memalign(a, n); count(p, 1); return p; }
void *aligned_alloc(size_t a, size_t n) { void *p = __libc_memalign(a, n); count(p, 1); return p; }
int posix_memalign(void **out, size_t a, size_t n) {
    void *p = __libc_memalign(a, n);
    if (!p) return ENOMEM;
    count(p, 1);
    *out = p;
    return 0;
}

static const char *dir(void) {
    const char *d = getenv("LIVEMEM_DIR");
    return d ? d : "/tmp";
}

static void dump(int sig) {
    (void)sig;
    char path[512];
    snprintf(path, sizeof path, "%s/traces-%d.txt", dir(), getpid());
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    for (int i = 0; fd >= 0 && i < ntraces && i < TRACES; i++) {
        if (!traced[i]) continue;
        dprintf(fd, "--- %d %zu\n", i, malloc_usable_size(traced[i]));
        for (int j = 0; j < trace_len[i]; j++) dprintf(fd, "%p\n", traces[i][j]);
    }
    if (fd >= 0) close(fd);
    snprintf(path, sizeof path, "%s/maps-%d.txt", dir(), getpid());
    FILE *maps = fopen("/proc/self/maps", "r"), *copy = fopen(path, "w");
    char line[1024];
    while (maps && copy && fgets(line, sizeof line, maps)) fputs(line, copy);
    if (maps) fclose(maps);
    if (copy) fclose(copy);
    /* The table last: its presence tells the reader the dump is complete. */
    snprintf(path, sizeof path, "%s/livemem-%d.tmp", dir(), getpid());
    FILE *f = fopen(path, "w");
    if (!f) return;
    for (int i = 0; i < CLASSES; i++)
        if (live_count[i]) fprintf(f, "%d %ld %ld\n", i * 16, live_count[i], live_bytes[i]);
    fclose(f);
    char final[512];
    snprintf(final, sizeof final, "%s/livemem-%d.txt", dir(), getpid());
    rename(path, final);
}

static void arm(int sig) {
    (void)sig;
    const char *size = getenv("LIVEMEM_SIZE"), *k = getenv("LIVEMEM_EVERY");
    ntraces = 0;
    seen = 0;
    every = k && atol(k) > 0 ? atol(k) : 1;
    want = size ? atol(size) : -1;
}

__attribute__((constructor)) static void init(void) {
    signal(SIGUSR2, dump);
    signal(SIGUSR1, arm);
}
