/* A firmware-style main for the example: fill the input, invoke, print the scores and the time. */
#include <stdio.h>
#include <time.h>

#include "kws.h"

int main(void) {
    int8_t *input = kws_input(0);
    const int8_t *scores;
    clock_t start;
    double ms;
    int i, best = 0;

    /* A deterministic test pattern stands in for audio features. */
    for (i = 0; i < KWS_INPUT0_SIZE; ++i) {
        input[i] = (int8_t)((i * 37) % 256 - 128);
    }
    start = clock();
    if (kws_invoke() != 0) {
        fprintf(stderr, "invoke failed\n");
        return 1;
    }
    ms = 1000.0 * (double)(clock() - start) / CLOCKS_PER_SEC;

    scores = kws_output(0);
    for (i = 0; i < KWS_OUTPUT0_ELEMENTS; ++i) {
        float p = KWS_OUTPUT0_SCALE * (float)(scores[i] - KWS_OUTPUT0_ZERO_POINT);
        printf("class %d: %4d (p = %.3f)\n", i, scores[i], p);
        if (scores[i] > scores[best]) {
            best = i;
        }
    }
    printf("top class %d; arena %d bytes; %ld MACs; invoke %.3f ms\n", best, KWS_ARENA_SIZE, (long)KWS_MACS, ms);
    return 0;
}
