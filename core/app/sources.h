/* sources.h - expands --source arguments into a sorted list of image files.
 *
 * An argument is an image file, a folder (its image files, not recursive),
 * a glob pattern (quoted on the shell), or @list.txt (one path per line,
 * '#' comments and blank lines ignored, relative paths against the list's
 * folder). Image files are recognised by extension (jpg jpeg png bmp tga gif
 * psd hdr pic pnm ppm pgm, any case); an explicitly named file is taken
 * whatever its extension (decoding will tell). */
#ifndef Y5_SOURCES_H
#define Y5_SOURCES_H

#include <stddef.h>
#include "core/base/strbuf.h"

/* Returns 0, or -1 with "ARG: problem" in err (missing path, empty folder
 * is not an error but a glob matching nothing is). */
int y5_sources_expand(char *const *args, int n_args, y5_strlist *out, char *err, size_t errlen);

#endif
