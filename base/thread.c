/* thread.c - starting a helper thread where it can run at once. */
#include "base/thread.h"

#include <sched.h>
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
