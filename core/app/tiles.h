/* tiles.h - where --tile cuts an image: overlapping tiles of one size.
 *
 * Along a side of L pixels, tiles of T pixels (L when the side is shorter)
 * with a fraction f of overlap: n = 1 when L <= T, else
 * n = ceil((L - T) / (T * (1 - f))) + 1 tiles whose origins are spread
 * evenly from 0 to L - T (rounded), so every tile lies inside the image, all
 * have one size (one network shape: they batch together) and neighbours
 * overlap by at least f * T. Pure functions: the tests call them in process. */
#ifndef Y5_TILES_H
#define Y5_TILES_H

/* Limits of the options (cli_detect.c checks them, with messages). */
#define Y5_TILE_MIN 32
#define Y5_TILE_MAX 16384
#define Y5_TILE_OVERLAP_MAX 0.9

/* The number of tiles along a side of L pixels; with origins != NULL also
 * their origins (origins must hold the count: call once without first). */
int y5_tile_origins(int L, int T, double overlap, int *origins);

/* The sides (core/post/nms.h: Y5_CUT_*) along which a box found in the tw x
 * th tile at (x0, y0) of a W x H image was cut by the tile border: the box
 * (tile pixels, clipped to the tile) comes within eps of a tile side that
 * lies inside the image. 0: a whole box as far as this tile can tell. */
unsigned y5_tile_cut_sides(const float box[4], int x0, int y0, int tw, int th, int W, int H, float eps);

#endif
