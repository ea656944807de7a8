/* stb_impl.c - the one translation unit that compiles stb_image and
 * stb_image_write (Debian's libstb-dev headers, -I/usr/include/stb). Their
 * own warnings are silenced here only, so the rest of the project keeps
 * -Wall -Wextra -Werror.
 *
 * JPEG is not stb's job: core/image.c decodes and encodes it with
 * libjpeg-turbo and hands stb only the other formats (PNG, BMP, GIF, TGA,
 * PSD, HDR, PIC, PNM), so stb's JPEG decoder is not compiled (STBI_NO_JPEG). */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wunused-but-set-variable"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wtype-limits"

/* Decoders from memory only (core/image.c reads files itself, so it can tell
 * a missing file from a corrupt one); failure reasons are thread-local (the
 * default with C11), so decoding from several threads is safe. */
#define STB_IMAGE_IMPLEMENTATION
#define STBI_NO_STDIO
#define STBI_NO_JPEG
#include <stb_image.h>

/* stb_image_write: PNG and BMP only (its JPEG writer, stbi_write_jpg*, is
 * compiled but never called: it shifts a signed int past bit 31, which
 * UBSan would report). */
#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STBI_WRITE_NO_STDIO
#include <stb_image_write.h>

#pragma GCC diagnostic pop
