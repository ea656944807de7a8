/* threadpool.h - a fixed pool of worker threads for the CPU kernels.
 *
 * y5_pool_run(pool, n_tasks, fn, ctx) calls fn(ctx, task, worker) for every
 * task in [0, n_tasks) spread over the pool's threads (the caller's thread
 * takes part as worker 0) and returns when all are done. Workers set FTZ/DAZ
 * (denormals flushed) when they start: SiLU of large negative inputs makes
 * denormals and x86 is many times slower on them. */
#ifndef Y5_THREADPOOL_H
#define Y5_THREADPOOL_H

typedef struct y5_pool y5_pool;
typedef void (*y5_task_fn)(void *ctx, int task, int worker);

/* n_threads <= 0: one per online core. */
y5_pool *y5_pool_create(int n_threads);
/* The machine's online cores (at least 1): the default thread count. */
int y5_ncores(void);
void y5_pool_destroy(y5_pool *p);
int y5_pool_size(const y5_pool *p);
void y5_pool_run(y5_pool *p, int n_tasks, y5_task_fn fn, void *ctx);

/* Sets FTZ/DAZ on the calling thread. */
void y5_flush_denormals(void);

#endif
