/* thread.h - starting a helper thread where it can run at once. Nothing here allocates what the
 * caller frees; a started thread is joinable and the caller joins it with pthread_join. */
#ifndef CK_THREAD_H
#define CK_THREAD_H

#include <pthread.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* pthread_create(t, NULL, fn, arg), except that the thread starts on another CPU than the
 * calling thread's when the process may use one: Linux often queues a new thread on its
 * creator's CPU until the creator's time slice ends (0.5 to 3 ms measured on a 2-CPU VM, as
 * long as a whole phase of a lint), although another CPU is idle. Once running, the thread may
 * use every CPU the process may. Returns what pthread_create returns (0, or an errno value with
 * no thread started); when pinning is not possible it falls back to a plain pthread_create. */
int ck_thread_start(pthread_t *t, void *(*fn)(void *), void *arg);
/* How many threads to run: want, or one per online CPU when want <= 0; then at most max and
 * at most n (the pieces of work there are), and at least 1. */
int ck_thread_count(int want, int max, size_t n);

/* Runs fn(ctx, k, n) for k = 0 .. n - 1 at once: k = 0 on the calling thread, the others on
 * helper threads the pool keeps from call to call (started on first use, at most CK_POOL_MAX in
 * all), and returns when every part is done. A call made while the pool is busy (from a part,
 * or from another thread) runs its parts one after the other on the calling thread. For work
 * split many times a second, where starting threads each time would cost more than the work. */
#define CK_POOL_MAX 64
void ck_pool_run(int n, void (*fn)(void *ctx, int k, int n), void *ctx);

#ifdef __cplusplus
}
#endif

#endif
