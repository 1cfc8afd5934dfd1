/* thread.c - starting a helper thread where it can run at once. */
#include "base/thread.h"

#include <sched.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

typedef struct {
    void *(*fn)(void *);
    void *arg;
    cpu_set_t allowed;    /* the creator's CPUs, given back once the thread runs */
} start_job;

static void *started(void *p)
{
    start_job j = *(start_job *)p;
    free(p);
    pthread_setaffinity_np(pthread_self(), sizeof j.allowed, &j.allowed); /* best effort */
    return j.fn(j.arg);
}

int ck_thread_start(pthread_t *t, void *(*fn)(void *), void *arg)
{
    start_job *j = malloc(sizeof *j);
    int me = sched_getcpu();
    if (!j || me < 0 || me >= CPU_SETSIZE || sched_getaffinity(0, sizeof j->allowed, &j->allowed) != 0) {
        free(j);
        return pthread_create(t, NULL, fn, arg);
    }
    cpu_set_t away = j->allowed;
    CPU_CLR(me, &away);
    pthread_attr_t at;
    if (CPU_COUNT(&away) == 0 || pthread_attr_init(&at) != 0) {
        free(j);
        return pthread_create(t, NULL, fn, arg);
    }
    j->fn = fn;
    j->arg = arg;
    int rc = pthread_attr_setaffinity_np(&at, sizeof away, &away);
    rc = rc == 0 ? pthread_create(t, &at, started, j) : rc;
    pthread_attr_destroy(&at);
    if (rc != 0) {
        free(j);
        return pthread_create(t, NULL, fn, arg);
    }
    return 0;
}

int ck_thread_count(int want, int max, size_t n)
{
    if (want <= 0) {
        /* glibc reads /sys/devices/system/cpu/online at every call: once per process is enough */
        static long cores;
        long c = __atomic_load_n(&cores, __ATOMIC_RELAXED);
        if (c <= 0) {
            c = sysconf(_SC_NPROCESSORS_ONLN);
            __atomic_store_n(&cores, c, __ATOMIC_RELAXED);
        }
        want = c > 0 ? (c > max ? max : (int)c) : 1;
    }
    if (want > max)
        want = max;
    if ((size_t)want > n)
        want = (int)n;
    return want > 0 ? want : 1;
}

static struct {
    pthread_mutex_t busy;  /* held by the caller of a run */
    pthread_mutex_t lock;  /* guards the rest */
    pthread_cond_t go, done;
    unsigned long gen;     /* runs started */
    void (*fn)(void *, int, int);
    void *ctx;
    int n, total, pending, helpers; /* n: parts run at once (helpers 1 .. n - 1 take one each) of total */
} P = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, PTHREAD_COND_INITIALIZER,
       0, NULL, NULL, 0, 0, 0, 0};

static void *pool_helper(void *arg)
{
    int k = (int)(intptr_t)arg; /* the part this helper runs: 1 .. */
    unsigned long seen = 0;
    pthread_mutex_lock(&P.lock);
    for (;;) {
        while (P.gen == seen)
            pthread_cond_wait(&P.go, &P.lock);
        seen = P.gen;
        if (k >= P.n)
            continue;
        void (*fn)(void *, int, int) = P.fn;
        void *ctx = P.ctx;
        int n = P.total;
        pthread_mutex_unlock(&P.lock);
        fn(ctx, k, n);
        pthread_mutex_lock(&P.lock);
        if (--P.pending == 0)
            pthread_cond_signal(&P.done);
    }
    return NULL;
}

void ck_pool_run(int n, void (*fn)(void *ctx, int k, int n), void *ctx)
{
    if (n > CK_POOL_MAX)
        n = CK_POOL_MAX;
    if (n <= 1 || pthread_mutex_trylock(&P.busy) != 0) {
        for (int k = 0; k < n || k == 0; k++)
            fn(ctx, k, n > 0 ? n : 1);
        return;
    }
    pthread_mutex_lock(&P.lock);
    while (P.helpers < n - 1) { /* helpers are numbered 1 ..; one that cannot start: fewer parts at once */
        pthread_t t;
        if (ck_thread_start(&t, pool_helper, (void *)(intptr_t)(P.helpers + 1)) != 0)
            break;
        pthread_detach(t);
        P.helpers++;
    }
    int at_once = P.helpers + 1 < n ? P.helpers + 1 : n;
    P.fn = fn;
    P.ctx = ctx;
    P.n = at_once;
    P.total = n;
    P.pending = at_once - 1;
    P.gen++;
    pthread_cond_broadcast(&P.go);
    pthread_mutex_unlock(&P.lock);
    fn(ctx, 0, n);
    for (int k = at_once; k < n; k++) /* parts no helper could take */
        fn(ctx, k, n);
    pthread_mutex_lock(&P.lock);
    while (P.pending > 0)
        pthread_cond_wait(&P.done, &P.lock);
    pthread_mutex_unlock(&P.lock);
    pthread_mutex_unlock(&P.busy);
}
