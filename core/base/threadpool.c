/* threadpool.c - persistent pthread workers with a cheap fork/join.
 *
 * A job is published by bumping a generation counter; workers spin on it for
 * a short while (consecutive layers follow each other within microseconds)
 * and then sleep on a condition variable. Tasks are handed out through an
 * atomic counter, so uneven tasks balance themselves. The caller runs tasks
 * as worker 0 and then waits (spin, then condvar) for the others. */
#include "core/base/threadpool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(__i386__)
#include <xmmintrin.h>
#define Y5_PAUSE() _mm_pause()
#elif defined(__aarch64__)
#define Y5_PAUSE() __asm__ __volatile__("yield") /* the spin-wait hint, as x86's pause */
#else
#define Y5_PAUSE() ((void)0)
#endif

/* Spin iterations (each a pause, ~tens of ns on current x86) before sleeping. */
#define SPIN_WORKER 20000
#define SPIN_CALLER 200000

struct y5_pool {
    int n;
    pthread_t *th;
    pthread_mutex_t mu;
    pthread_cond_t cv_start, cv_done;
    atomic_uint gen;        /* bumped once per job */
    atomic_int next;        /* next task to hand out */
    atomic_int active;      /* helper workers still on the current job */
    atomic_int stop;
    y5_task_fn fn;
    void *ctx;
    int n_tasks;
};

typedef struct { y5_pool *p; int id; } worker_arg;

void y5_flush_denormals(void) {
#if defined(__x86_64__) || defined(__i386__)
    _mm_setcsr(_mm_getcsr() | 0x8040); /* FTZ (bit 15) | DAZ (bit 6) */
#elif defined(__aarch64__)
    /* FPCR.FZ (bit 24): denormal inputs and results are zero, as FTZ|DAZ */
    unsigned long fpcr;
    __asm__ __volatile__("mrs %0, fpcr" : "=r"(fpcr));
    __asm__ __volatile__("msr fpcr, %0" : : "r"(fpcr | (1ul << 24)));
#endif
}

static void run_tasks(y5_pool *p, int id) {
    y5_task_fn fn = p->fn;
    void *ctx = p->ctx;
    int n = p->n_tasks;
    for (;;) {
        int t = atomic_fetch_add_explicit(&p->next, 1, memory_order_relaxed);
        if (t >= n) break;
        fn(ctx, t, id);
    }
}

static void *worker_main(void *arg) {
    worker_arg *wa = arg;
    y5_pool *p = wa->p;
    int id = wa->id;
    free(wa);
    y5_flush_denormals();
    unsigned seen = 0; /* gen's value at creation: a job may be published before this thread runs */
    for (;;) {
        unsigned g;
        int spins = 0;
        while ((g = atomic_load_explicit(&p->gen, memory_order_acquire)) == seen &&
               !atomic_load_explicit(&p->stop, memory_order_relaxed) && spins < SPIN_WORKER) {
            Y5_PAUSE();
            if ((++spins & 255) == 0) sched_yield(); /* let a descheduled peer run when oversubscribed */
        }
        if (g == seen) {
            pthread_mutex_lock(&p->mu);
            while ((g = atomic_load_explicit(&p->gen, memory_order_acquire)) == seen &&
                   !atomic_load_explicit(&p->stop, memory_order_relaxed))
                pthread_cond_wait(&p->cv_start, &p->mu);
            pthread_mutex_unlock(&p->mu);
        }
        if (atomic_load_explicit(&p->stop, memory_order_acquire)) break;
        seen = g;
        run_tasks(p, id);
        if (atomic_fetch_sub_explicit(&p->active, 1, memory_order_acq_rel) == 1) {
            pthread_mutex_lock(&p->mu);
            pthread_cond_broadcast(&p->cv_done);
            pthread_mutex_unlock(&p->mu);
        }
    }
    return NULL;
}

int y5_ncores(void) {
    long c = sysconf(_SC_NPROCESSORS_ONLN);
    return c < 1 ? 1 : c > 1024 ? 1024 : (int)c;
}

y5_pool *y5_pool_create(int n_threads) {
    if (n_threads <= 0) n_threads = y5_ncores();
    if (n_threads > 256) n_threads = 256;
    y5_pool *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->n = n_threads;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv_start, NULL);
    pthread_cond_init(&p->cv_done, NULL);
    atomic_init(&p->gen, 0);
    atomic_init(&p->next, 0);
    atomic_init(&p->active, 0);
    atomic_init(&p->stop, 0);
    y5_flush_denormals(); /* the caller is worker 0 */
    if (n_threads > 1) {
        p->th = calloc((size_t)n_threads, sizeof *p->th);
        if (!p->th) { free(p); return NULL; }
        for (int i = 1; i < n_threads; i++) {
            worker_arg *wa = malloc(sizeof *wa);
            if (wa) { wa->p = p; wa->id = i; }
            if (!wa || pthread_create(&p->th[i], NULL, worker_main, wa) != 0) {
                free(wa);
                p->n = i; /* the threads started so far */
                y5_pool_destroy(p);
                return NULL;
            }
        }
    }
    return p;
}

void y5_pool_destroy(y5_pool *p) {
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    atomic_store_explicit(&p->stop, 1, memory_order_release);
    pthread_cond_broadcast(&p->cv_start);
    pthread_mutex_unlock(&p->mu);
    for (int i = 1; i < p->n; i++) pthread_join(p->th[i], NULL);
    pthread_cond_destroy(&p->cv_start);
    pthread_cond_destroy(&p->cv_done);
    pthread_mutex_destroy(&p->mu);
    free(p->th);
    free(p);
}

int y5_pool_size(const y5_pool *p) { return p ? p->n : 1; }

void y5_pool_run(y5_pool *p, int n_tasks, y5_task_fn fn, void *ctx) {
    if (n_tasks <= 0) return;
    if (!p || p->n == 1 || n_tasks == 1) {
        for (int t = 0; t < n_tasks; t++) fn(ctx, t, 0);
        return;
    }
    p->fn = fn;
    p->ctx = ctx;
    p->n_tasks = n_tasks;
    atomic_store_explicit(&p->next, 0, memory_order_relaxed);
    atomic_store_explicit(&p->active, p->n - 1, memory_order_relaxed);
    pthread_mutex_lock(&p->mu);
    atomic_fetch_add_explicit(&p->gen, 1, memory_order_release);
    pthread_cond_broadcast(&p->cv_start);
    pthread_mutex_unlock(&p->mu);

    run_tasks(p, 0);

    int spins = 0;
    while (atomic_load_explicit(&p->active, memory_order_acquire) > 0 && spins < SPIN_CALLER) {
        Y5_PAUSE();
        if ((++spins & 255) == 0) sched_yield();
    }
    if (atomic_load_explicit(&p->active, memory_order_acquire) > 0) {
        pthread_mutex_lock(&p->mu);
        while (atomic_load_explicit(&p->active, memory_order_acquire) > 0)
            pthread_cond_wait(&p->cv_done, &p->mu);
        pthread_mutex_unlock(&p->mu);
    }
}
