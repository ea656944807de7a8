/* tiles.c - the tile grid of tiles.h. */
#include "core/app/tiles.h"

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
