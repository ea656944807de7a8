/* yolo_convs.h - the convolutions of a YOLOv5 v6 network (yolov5s.yaml's
 * layout scaled by width and depth multiples: yolov5n 0.25/0.33, yolov5m
 * 0.75/0.67), as conv shapes for the kernel lab (cuda/lab/conv_lab.cu) and
 * the index-model test (tests/unit/test_conv_tile.c). C11 and C++.
 *
 * The row strides model a concat-slice memory plan: C3's cv1/cv2 write the
 * two halves of their concat (ld_out = 2c_), the first Bottleneck reads cv1's
 * half (ld_in = 2c_), the last one writes into the concat, SPPF's cv1 writes
 * a quarter of its 4c_ concat. The engine's own plan may differ in which
 * buffer is wider; what matters here is that ld_in > cin and ld_out > cout
 * occur. The stem (6x6 s2, cin 3) is listed with cin padded to 8 (zero
 * weights), the form the lab's kernels take. Detect's 1x1 convs have 255
 * outputs (3 anchors x 85), no activation, in rows padded to 256 (the
 * engine's graph pads every buffer's rows to a multiple of 8). */
#ifndef Y5_YOLO_CONVS_H
#define Y5_YOLO_CONVS_H

typedef struct {
    const char *name;      /* layer in yolov5s.yaml terms, e.g. "4.m.1.cv2" */
    int h, w;              /* input size */
    int cin, ld_in, cout, ld_out, k, s, p;
    int res;               /* Bottleneck residual (ld_res = ld_out) */
    int act;               /* 1 SiLU, 0 none (Detect) */
    int out_first;         /* the output slice starts its row (a row padded to 8: Detect's
                            * 255 in 256), not ends it (a concat's later slot) */
} y5l_layer;

typedef struct {
    y5l_layer *v;
    int n, cap;
    int h, w; /* the current feature map size */
} y5l_net;

static inline void y5l_add(y5l_net *net, const char *name, int cin, int ld_in, int cout, int ld_out, int k, int s,
                           int res, int act) {
    if (net->n < net->cap) {
        y5l_layer *l = &net->v[net->n];
        l->name = name;
        l->h = net->h;
        l->w = net->w;
        l->cin = cin;
        l->ld_in = ld_in;
        l->cout = cout;
        l->ld_out = ld_out;
        l->k = k;
        l->s = s;
        l->p = k / 2;
        l->res = res;
        l->act = act;
        l->out_first = 0;
    }
    net->n++;
}

/* The last layer added writes rows padded to a multiple of 8, its slice
 * first (the engine's Detect heads). */
static inline void y5l_padded_row(y5l_net *net) {
    if (net->n > 0 && net->n <= net->cap) net->v[net->n - 1].out_first = 1;
}

/* C3(c1 -> c2, n Bottlenecks) at the current size. */
static inline void y5l_c3(y5l_net *net, const char *name, int c1, int ld1, int c2, int n, int shortcut) {
    const int c_ = c2 / 2;
    y5l_add(net, name, c1, ld1, c_, 2 * c_, 1, 1, 0, 1); /* cv1 */
    y5l_add(net, name, c1, ld1, c_, 2 * c_, 1, 1, 0, 1); /* cv2 */
    for (int i = 0; i < n; i++) {
        y5l_add(net, name, c_, i == 0 ? 2 * c_ : c_, c_, c_, 1, 1, 0, 1);              /* m.i.cv1 */
        y5l_add(net, name, c_, c_, c_, i == n - 1 ? 2 * c_ : c_, 3, 1, shortcut, 1); /* m.i.cv2 */
    }
    y5l_add(net, name, 2 * c_, 2 * c_, c2, c2, 1, 1, 0, 1); /* cv3 */
}

static inline void y5l_down(y5l_net *net, const char *name, int c1, int c2, int ld_out) {
    y5l_add(net, name, c1, c1, c2, ld_out, 3, 2, 0, 1);
    net->h = (net->h + 1) / 2; /* (h + 2 - 3) / 2 + 1 */
    net->w = (net->w + 1) / 2;
}

static inline int y5l_ch(int c, double wm) { return ((int)(c * wm + 7.999) / 8) * 8; }
static inline int y5l_rep(int n, double dm) {
    int r = (int)(n * dm + 0.5);
    return r < 1 ? 1 : r;
}

/* Fills v[0..cap) with the network's convs in order for an h x w input (a
 * multiple of 32); returns how many there are (more than cap: truncated). */
static inline int y5l_yolov5_convs(double wm, double dm, int h, int w, y5l_layer *v, int cap) {
    y5l_net net = {v, 0, cap, h, w};
    const int c64 = y5l_ch(64, wm), c128 = y5l_ch(128, wm), c256 = y5l_ch(256, wm), c512 = y5l_ch(512, wm),
              c1024 = y5l_ch(1024, wm);
    /* backbone */
    y5l_add(&net, "0 stem (cin 3 padded to 8)", 8, 8, c64, c64, 6, 2, 0, 1);
    if (cap > 0) v[0].p = 2; /* yolov5's stem: Conv(3, c64, 6, 2, 2) */
    net.h = (h + 4 - 6) / 2 + 1;
    net.w = (w + 4 - 6) / 2 + 1;
    y5l_down(&net, "1", c64, c128, c128);
    y5l_c3(&net, "2", c128, c128, c128, y5l_rep(3, dm), 1);
    y5l_down(&net, "3", c128, c256, c256);
    y5l_c3(&net, "4", c256, c256, c256, y5l_rep(6, dm), 1); /* P3: concat 16 */
    const int h3 = net.h, w3 = net.w;
    y5l_down(&net, "5", c256, c512, c512);
    y5l_c3(&net, "6", c512, c512, c512, y5l_rep(9, dm), 1); /* P4: concat 12 */
    const int h4 = net.h, w4 = net.w;
    y5l_down(&net, "7", c512, c1024, c1024);
    y5l_c3(&net, "8", c1024, c1024, c1024, y5l_rep(3, dm), 1);
    const int h5 = net.h, w5 = net.w;
    /* SPPF */
    y5l_add(&net, "9 SPPF.cv1", c1024, c1024, c1024 / 2, 2 * c1024, 1, 1, 0, 1);
    y5l_add(&net, "9 SPPF.cv2", 2 * c1024, 2 * c1024, c1024, c1024, 1, 1, 0, 1);
    /* head */
    y5l_add(&net, "10", c1024, c1024, c512, c512, 1, 1, 0, 1); /* also concat 22's second half */
    net.h = h4, net.w = w4;
    y5l_c3(&net, "13", 2 * c512, 2 * c512, c512, y5l_rep(3, dm), 0);
    y5l_add(&net, "14", c512, c512, c256, c256, 1, 1, 0, 1);
    net.h = h3, net.w = w3;
    y5l_c3(&net, "17 P3", 2 * c256, 2 * c256, c256, y5l_rep(3, dm), 0);
    y5l_add(&net, "24 Detect P3", c256, c256, 255, 256, 1, 1, 0, 0);
    y5l_padded_row(&net);
    y5l_down(&net, "18", c256, c256, 2 * c256); /* into concat 19 */
    y5l_c3(&net, "20 P4", 2 * c256, 2 * c256, c512, y5l_rep(3, dm), 0);
    y5l_add(&net, "24 Detect P4", c512, c512, 255, 256, 1, 1, 0, 0);
    y5l_padded_row(&net);
    y5l_down(&net, "21", c512, c512, 2 * c512); /* into concat 22 */
    y5l_c3(&net, "23 P5", 2 * c512, 2 * c512, c1024, y5l_rep(3, dm), 0);
    y5l_add(&net, "24 Detect P5", c1024, c1024, 255, 256, 1, 1, 0, 0);
    y5l_padded_row(&net);
    (void)h5;
    (void)w5;
    return net.n;
}

#endif
