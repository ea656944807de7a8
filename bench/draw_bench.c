/* draw_bench.c - the cost of drawing detections (boxes, label boxes, text)
 * on a 1920x1080 image: what the writers pay per annotated image, beside
 * the JPEG encode. 120 pseudo-random detections with labels, best of 30,
 * and an FNV-1a hash of the pixels so that two builds can be compared for
 * identical output.
 *
 * build (after make): cc -O2 -std=c11 -D_GNU_SOURCE -I. -Iinclude -I/usr/include/stb \
 *   bench/draw_bench.c build/libyolov5c.a -ljpeg -lm -pthread -ldl \
 *   -L/usr/local/cuda/lib64 -lcudart -lstdc++ -o build/draw_bench
 *   (the last line only for a CUDA build)
 * usage: build/draw_bench */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "core/image/draw.h"
#include "core/image/image.h"
#include "core/post/nms.h"
static double now(void){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec*1e-9;}
int main(int argc,char**argv){
  (void)argc;(void)argv;
  y5_image img={1920,1080,malloc(1920*1080*3)};
  y5_det d[120]; unsigned r=7;
  for(int i=0;i<120;i++){r=r*1103515245u+12345u; float x=(r>>8)%1800, y=((r>>4)%1000); r=r*1103515245u+12345u; float w=20+(r>>9)%400,h=20+(r>>5)%300;
    d[i].x1=x;d[i].y1=y;d[i].x2=x+w;d[i].y2=y+h;d[i].conf=0.5f+(i%50)/100.f;d[i].cls=i%80;}
  static char names[80][64]; for(int i=0;i<80;i++) snprintf(names[i],64,"class%d",i);
  double best=1e9;
  for(int rep=0;rep<30;rep++){ memset(img.px,128,1920*1080*3); double t=now(); y5_draw_detections(&img,d,120,(const char(*)[64])names,80); t=now()-t; if(t<best)best=t;}
  unsigned long h=1469598103934665603ul; for(size_t i=0;i<1920*1080*3;i++){h^=img.px[i];h*=1099511628211ul;}
  printf("draw 120 dets: best %.3f ms, hash %lx\n",best*1e3,h);
  return 0;}
