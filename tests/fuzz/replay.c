/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A main() for fuzz targets built without libFuzzer: runs LLVMFuzzerTestOneInput on
 * each file named on the command line, so corpora replay under gcc and the sanitizers.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Corpus files larger than this are a mistake in the corpus, not an input to try. */
#define REPLAY_MAX_BYTES (16 * 1024 * 1024)

int
main(int argc, char **argv)
{
	static uint8_t data[REPLAY_MAX_BYTES];

	for (int i = 1; i < argc; i++) {
		FILE *file = fopen(argv[i], "rb");
		size_t size;

		if (file == NULL) {
			perror(argv[i]);
			return 1;
		}
		size = fread(data, 1, sizeof(data), file);
		fclose(file);
		LLVMFuzzerTestOneInput(data, size);
	}
	printf("replayed %d inputs\n", argc - 1);
	return 0;
}
