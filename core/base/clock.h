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

#endif
