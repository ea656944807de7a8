/* codec_bench.c - one image's JPEG decode and encode+write on one core,
 * uncontended (best of 10): what each decode worker and writer of detect
 * costs per image when it has a core to itself, to compare with the stage
 * times detect reports under load.
 *
 * build (after make): cc -O2 -std=c11 -D_GNU_SOURCE -I. -Iinclude -I/usr/include/stb \
 *   bench/codec_bench.c build/libyolov5c.a -ljpeg -lm -pthread -ldl \
 *   -L/usr/local/cuda/lib64 -lcudart -lstdc++ -o build/codec_bench
 *   (the last line only for a CUDA build)
 * usage: build/codec_bench IMAGE.jpg [OUT.jpg]   (OUT default /dev/shm/codec_bench.jpg) */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "core/image/image.h"
static double now(void){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec*1e-9;}
int main(int argc, char **argv) {
    if (argc < 2) { fprintf(stderr, "usage: codec_bench IMAGE.jpg [OUT.jpg]\n"); return 2; }
    const char *out = argc > 2 ? argv[2] : "/dev/shm/codec_bench.jpg";
    y5_image im; char err[256];
 if(y5_image_load(argv[1],&im,err,sizeof err)){puts(err);return 1;}
 double bd=1e9, be=1e9;
 for(int r=0;r<10;r++){ y5_image t; double a=now(); y5_image_load(argv[1],&t,err,sizeof err); a=now()-a; if(a<bd)bd=a; y5_image_free(&t);
   double b=now(); y5_image_write(out,&im,err,sizeof err); b=now()-b; if(b<be)be=b; }
 printf("%dx%d decode %.2f ms encode+write %.2f ms\n",im.w,im.h,bd*1e3,be*1e3); return 0;}
