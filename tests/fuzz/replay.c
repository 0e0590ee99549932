/* Runs a fuzz target over the files named on the command line (a corpus
 * replay), so that `make check` exercises every fuzz target without
 * libFuzzer.  With --enable-fuzz the targets link libFuzzer instead. */
#include <sluice-config.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
main(int argc, char *argv[])
{
    int n_run = 0;
    for (int i = 1; i < argc; i++) {
        FILE *file = fopen(argv[i], "rb");
        if (!file) {
            fprintf(stderr, "%s: %s\n", argv[i], strerror(errno));
            return EXIT_FAILURE;
        }
        uint8_t *buf = malloc(1 << 20);
        size_t n = buf ? fread(buf, 1, 1 << 20, file) : 0;
        int error = ferror(file);
        fclose(file);
        if (!buf || error) {
            fprintf(stderr, "%s: read failed\n", argv[i]);
            free(buf);
            return EXIT_FAILURE;
        }
        LLVMFuzzerTestOneInput(buf, n);
        free(buf);
        n_run++;
    }
    printf("replayed %d inputs\n", n_run);
    return n_run ? EXIT_SUCCESS : EXIT_FAILURE;
}
