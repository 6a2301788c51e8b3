#ifndef HERALD_FUZZ_DRIVER_H
#define HERALD_FUZZ_DRIVER_H
#include <stddef.h>
#include <stdint.h>

/// libFuzzer's entry point for a program with its own `main` (in libclang_rt.fuzzer, linked by
/// `-sanitize=fuzzer`): parses libFuzzer's flags from argv and runs `callback` on each input.
int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));

#endif
