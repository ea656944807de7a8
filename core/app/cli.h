/* cli.h - the yolov5c subcommands and their shared option helpers. */
#ifndef Y5_CLI_H
#define Y5_CLI_H

int y5_cli_convert(int argc, char **argv);
int y5_cli_info(int argc, char **argv);
int y5_cli_detect(int argc, char **argv);
int y5_cli_bench(int argc, char **argv);

/* Option value parsing: each prints "yolov5c: OPTION: problem" and returns -1
 * when the value is bad. */
int y5_opt_int(const char *opt, const char *v, int lo, int hi, int *out);
int y5_opt_float(const char *opt, const char *v, double lo, double hi, float *out);
/* A byte count: "2G", "1.5G", "512M", "64K", "2GiB", plain bytes, or "0"
 * (binary units: K = 1024). */
int y5_opt_size(const char *opt, const char *v, double *out);
/* "640", "480x640" or "480,640" (height x width); rounds each side up to a
 * multiple of 32 with a warning, as ultralytics' check_img_size does. */
int y5_opt_imgsz(const char *v, int *h, int *w);
/* Value of argv[*i] for option opt, advancing *i; error when missing. */
const char *y5_opt_value(int argc, char **argv, int *i);
/* The same for an option of command cmd that takes a value: known lists
 * those options (NULL-terminated); any other option is reported as unknown
 * ("yolov5c CMD: unknown option X"), never as one that "needs a value",
 * even when it is the last argument. */
const char *y5_opt_value_known(int argc, char **argv, int *i, const char *cmd, const char *const *known);

#endif
