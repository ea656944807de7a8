/* clock.h - the monotonic clock every timer in the code reads. */
#ifndef Y5_CLOCK_H
#define Y5_CLOCK_H

#include <time.h>

static inline double y5_now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static inline double y5_now_ms(void) { return y5_now_s() * 1e3; }

/* CPU time of the calling thread: a stage's own work, without the time its
 * thread waited for a core when more threads than cores were runnable. */
static inline double y5_thread_cpu_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

#endif
