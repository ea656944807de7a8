/* fuzz_pickle.c - libFuzzer harness: the pickle VM (convert/pickle.c) on
 * arbitrary bytes, and the accessors the module walk uses on whatever it
 * builds. Seeds: the data.pkl of real checkpoints (scripts/fuzz_seeds.sh). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "convert/pickle.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    pkl_doc *doc = NULL;
    pkl_obj *root = NULL;
    char err[512] = "";
    if (pkl_load(data, size, &doc, &root, err, sizeof err) == 0) {
        char d[160];
        pkl_describe(root, d, sizeof d);
        (void)pkl_dict_get(root, "model");
        (void)pkl_dict_get_int(root, 0);
    } else if (!err[0]) {
        fprintf(stderr, "pkl_load failed without a message\n");
        abort();
    }
    pkl_free(doc);
    return 0;
}
