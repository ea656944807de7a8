/* engine.h - internals of y5_engine shared with the CLI, bench and tests. */
#ifndef Y5_ENGINE_H
#define Y5_ENGINE_H

#include <yolov5c.h>
#include "core/engine/graph.h"
#include "core/post/nms.h"
#include "weights/y5w.h"

struct y5_engine {
    y5w_file wf;
    y5_backend *be;
    y5_graph g;
    y5_backend_op *bops;     /* the plan as the backend's op list (backend_plan) */
    int bops_cap;
    y5_backend_plan bplan;
    int planned, n, h, w;
    float lazy_obj_min;
    y5_nms_ws *nms_ws;
    int nms_rows, nms_multi;
    int nms_queued;          /* y5_engine_nms_submit queued the current pred's NMS on the backend */
    y5_nms_opts nms_q_opts;  /* ... with these options */
    int nms_q_max_out;
    long long nms_batched;   /* images whose NMS take read from a batch queued with the forward */
    long long fault_in;      /* y5_engine_inject_fault: forwards left before the fault; -1: none */
    int faulted;             /* the injected fault happened */
    uint8_t *lb;             /* letterbox scratch (u8 network input) */
    size_t lb_cap;
    void *lb_scratch;
    size_t lb_scratch_cap;
    double open_s[3];        /* y5_engine_open's parts, seconds: the weight file (map, checksum), the
                              * backend (a GPU's start), the layers (weights packed or uploaded) */
};

const y5_model_desc *y5_engine_desc(const y5_engine *e);
/* The planned input as u8 (n x h x w x 3, 0..255; the forward divides by
 * 255 on the device), or NULL when the backend has no u8 input (the CPU:
 * write y5_engine_input instead). Like y5_engine_input, it decides where the
 * next forward's input comes from. */
unsigned char *y5_engine_input_u8(y5_engine *e);
/* Whether the backend takes the input as u8 at all (y5_engine_input_u8
 * returning NULL then means a failure, whose message y5_engine_forward_wait
 * gives). */
int y5_engine_has_input_u8(const y5_engine *e);
const y5_graph *y5_engine_graph(const y5_engine *e);
/* forward with per-op wall-clock times in ms (op_ms: g.n_ops entries; the
 * backend then runs its ops eagerly, each waited for). */
int y5_engine_forward_timed(y5_engine *e, double *op_ms, char *err, size_t errlen);
/* y5_engine_forward in two halves, so that the host prepares the next batch
 * while a device runs this one: submit queues the forward (on a backend
 * without compute_async it runs it whole), wait waits for it. In between,
 * only y5_engine_nms_submit and y5_engine_input_u8 (same plan) may be
 * called and the latter's buffer written: it is the other half of a double
 * buffer. y5_engine_async: 1 when submit
 * returns before the forward ends. */
int y5_engine_forward_submit(y5_engine *e, char *err, size_t errlen);
/* After writing y5_engine_input_u8's buffer, and possibly while the
 * previous forward still runs: start its upload now rather than at the next
 * submit (the backend's input_upload; 0 and nothing done where there is
 * none, or the input is not u8). */
int y5_engine_input_upload(y5_engine *e, char *err, size_t errlen);
int y5_engine_forward_wait(y5_engine *e, char *err, size_t errlen);
int y5_engine_async(const y5_engine *e);
/* After a failed forward: whether this engine can still run forwards (the
 * backend's healthy: a device with a sticky fault cannot, and every later
 * forward would fail too), or 0 once an injected fault happened on a
 * backend that cannot fault for real. May synchronise with the device. */
int y5_engine_healthy(y5_engine *e);
/* Fault injection (tests; the pipeline sets it from Y5_FAULT_ENGINE): after
 * n more forwards, the next one faults: on a backend with inject_fault the
 * device itself fails (CUDA: a trapping kernel before the forward), else
 * the forward fails with "injected device fault" and y5_engine_healthy says
 * 0 from then on. */
void y5_engine_inject_fault(y5_engine *e, long long n);
/* NMS + scale over the current pred of image b (network input in_h x in_w)
 * for an original w0 x h0. */
int y5_engine_nms(y5_engine *e, int b, const y5_nms_opts *o, int w0, int h0, y5_det *out, int max_out);
/* y5_engine_nms for every image of a batch with one device synchronisation
 * in all. On CUDA the per-image NMS waits for the device twice per image
 * (16 round trips for a batch of 8 while the GPU idles between two
 * forwards); submit instead queues the NMS of all the plan's images behind
 * the forward, right after y5_engine_forward_submit (it may come before the
 * wait: it only queues work), and take reads image b's result after
 * y5_engine_forward_wait, scaled like y5_engine_nms. Take the results before
 * the next forward or plan (which drop them), with the options submit got
 * and max_out at most submit's. submit returns 0 (also when it queued
 * nothing: a backend without nms_submit, the CPU's, or Y5_NMS_BATCH=0) or
 * -1 with err; take falls back to y5_engine_nms when nothing was queued
 * (or the options differ), so callers need no second path. The results are
 * those of y5_engine_nms, bit for bit. */
int y5_engine_nms_submit(y5_engine *e, const y5_nms_opts *o, int max_out, char *err, size_t errlen);
int y5_engine_nms_take(y5_engine *e, int b, const y5_nms_opts *o, int w0, int h0, y5_det *out, int max_out);
/* Letterboxes img into batch slot b of the planned input (shape must match
 * the letterbox plan; on the backend when it has a letterbox entry, as
 * CUDA does). Returns 0, or -1 with a
 * message in err. */
int y5_engine_put_image(y5_engine *e, int b, const y5_image *img, const void *geom, char *err, size_t errlen);

#endif
