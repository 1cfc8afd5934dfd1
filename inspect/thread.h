/* thread.h - starting a helper thread where it can run at once. */
#ifndef CK_THREAD_H
#define CK_THREAD_H

#include <pthread.h>

#ifdef __cplusplus
extern "C" {
#endif

/* pthread_create(t, NULL, fn, arg), except that the thread starts on another CPU than the
 * calling thread's when the process may use one: Linux often queues a new thread on its
 * creator's CPU until the creator's time slice ends (0.5 to 3 ms measured on a 2-CPU VM, as
 * long as a whole phase of a lint), although another CPU is idle. Once running, the thread may
 * use every CPU the process may. Returns what pthread_create returns. */
int ck_thread_start(pthread_t *t, void *(*fn)(void *), void *arg);

#ifdef __cplusplus
}
#endif

#endif
