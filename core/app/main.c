/* main.c - the yolov5c command line: subcommand dispatch. */
#include <stdio.h>
#include <string.h>

#include "core/app/cli.h"
#include "core/app/val.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: yolov5c <command> [options]\n"
            "\n"
            "commands:\n"
            "  convert IN.pt OUT.y5w [--fp16|--fp32]   ultralytics checkpoint -> flat weight file\n"
            "  info W.y5w [--imgsz N]                   layer table, parameters, GFLOPs, classes\n"
            "  detect --weights W.y5w --source PATH...  detect objects, write annotated images,\n"
            "         [--out DIR] [options]             labels and detections.jsonl\n"
            "  bench --weights W.y5w [--imgsz N] [--batch B] [--iters N] [--profile]\n"
            "  val --weights W.y5w --data DIR|D.yaml    mAP on a labelled set, as ultralytics val.py\n"
            "\n"
            "run 'yolov5c <command> --help' for a command's options.\n");
}

int main(int argc, char **argv) {
    if (argc < 2) { usage(stderr); return 2; }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "convert")) return y5_cli_convert(argc - 1, argv + 1);
    if (!strcmp(cmd, "info")) return y5_cli_info(argc - 1, argv + 1);
    if (!strcmp(cmd, "detect")) return y5_cli_detect(argc - 1, argv + 1);
    if (!strcmp(cmd, "bench")) return y5_cli_bench(argc - 1, argv + 1);
    if (!strcmp(cmd, "val")) return y5_cli_val(argc - 1, argv + 1);
    if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help")) { usage(stdout); return 0; }
    fprintf(stderr, "yolov5c: unknown command '%s'\n", cmd);
    usage(stderr);
    return 2;
}
