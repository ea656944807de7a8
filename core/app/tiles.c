/* tiles.c - the tile grid of tiles.h. */
#include "core/app/tiles.h"
#include "core/post/nms.h" /* Y5_CUT_* */

#include <math.h>

int y5_tile_origins(int L, int T, double overlap, int *origins) {
    if (L <= T || T <= 0) {
        if (origins) origins[0] = 0;
        return 1;
    }
    double step = T * (1.0 - overlap);
    if (step < 1) step = 1;
    int n = (int)ceil((double)(L - T) / step - 1e-9) + 1;
    if (origins)
        for (int k = 0; k < n; k++) origins[k] = (int)llround((double)k * (L - T) / (n - 1));
    return n;
}

unsigned y5_tile_cut_sides(const float box[4], int x0, int y0, int tw, int th, int W, int H, float eps) {
    unsigned f = 0;
    if (x0 > 0 && box[0] <= eps) f |= Y5_CUT_LEFT;
    if (x0 + tw < W && box[2] >= (float)tw - eps) f |= Y5_CUT_RIGHT;
    if (y0 > 0 && box[1] <= eps) f |= Y5_CUT_TOP;
    if (y0 + th < H && box[3] >= (float)th - eps) f |= Y5_CUT_BOTTOM;
    return f;
}
