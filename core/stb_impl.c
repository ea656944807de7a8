/* stb_impl.c - the one translation unit that compiles stb_image and
 * stb_image_write (Debian's libstb-dev headers, -I/usr/include/stb). Their
 * own warnings are silenced here only, so the rest of the project keeps
 * -Wall -Wextra -Werror. */
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
#include <stb_image.h>

/* stb_image_write's JPEG bit writer shifts a signed int past bit 31
 * (bitBuf <<= 8 keeps stale high bits): undefined behaviour in C that the
 * compilers here turn into the intended two's-complement result, and that
 * UBSan (make test-asan) reports on the first JPEG written. Exempt this one
 * function from the shift check (declared here, without a prototype, since
 * its parameter type is only defined inside the header); everything else
 * stays instrumented. */
#if defined(__GNUC__) && (defined(__clang__) || __GNUC__ >= 8)
static void stbiw__jpg_writeBits() __attribute__((no_sanitize("shift")));
#endif
#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STBI_WRITE_NO_STDIO
#include <stb_image_write.h>

#pragma GCC diagnostic pop
