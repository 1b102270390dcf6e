/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * scripts/benchlib/linux.py's guest program: times O_DIRECT reads and
 * writes of a block device with the guest's own clock and prints one
 * line per test on stdout (the console), which the host parses:
 *
 *   BENCH-LINUX: MODE bs=BS bytes=B ios=N ns=T p50=L p99=M
 *   BENCH-LINUX: error MODE bs=BS WHAT
 *
 * T is the whole test's time; L and M the median and 99th percentile of
 * its requests' times (nearest rank), each from the end of the request
 * before (one clock read per request) to the end of its own, in ns.
 *
 * usage: bench DEVICE START REGION MODE:BS:BYTES...
 * Each test issues BYTES / BS requests of BS bytes, one at a time (queue
 * depth 1: each request waits for the previous one's interrupt, so the
 * time per request is the whole path, not hidden by overlap), at offsets
 * START, START+BS, ... wrapping within [START, START+REGION). BS must
 * divide REGION and BYTES be at least REGION, so that every test covers
 * the whole region: the first write stamps each 4 KiB block of it with
 * its own offset, and every read checks the stamps of what it got (two
 * loads per 4 KiB, free beside the I/O), so a device that returns the
 * wrong blocks or none fails the test instead of looking fast. A write
 * test ends with fsync, inside its time: the DASD driver has no write
 * cache, so it returns at once, but the figure then covers what a writer
 * waits for.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define STAMP_BLOCK 4096
#define MAX_BS (1024 * 1024)
/*
 * "BENCHLNX" in ASCII, after each block's offset: a block that holds an
 * offset by chance (zeros at offset 0) still fails.
 */
#define STAMP_MAGIC 0x42454e43484c4e58ULL

struct test {
    int write;
    uint64_t bs;
    uint64_t bytes;
};

static int parse_u64(const char *text, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    if (errno || end == text || *end) {
        return -1;
    }
    *out = v;
    return 0;
}

/*
 * MODE:BS:BYTES; BS a multiple of the stamp block up to MAX_BS, BYTES a
 * multiple of BS (main also wants BS to divide the region and BYTES to
 * cover it).
 */
static int parse_test(const char *text, struct test *t)
{
    char mode[8];
    char bs[24];
    char bytes[24];
    if (sscanf(text, "%7[a-z]:%23[0-9]:%23[0-9]", mode, bs, bytes) != 3) {
        return -1;
    }
    if (strcmp(mode, "read") == 0) {
        t->write = 0;
    } else if (strcmp(mode, "write") == 0) {
        t->write = 1;
    } else {
        return -1;
    }
    if (parse_u64(bs, &t->bs) || parse_u64(bytes, &t->bytes)) {
        return -1;
    }
    if (t->bs == 0 || t->bs % STAMP_BLOCK || t->bs > MAX_BS || t->bytes == 0 || t->bytes % t->bs) {
        return -1;
    }
    return 0;
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void stamp(unsigned char *buf, uint64_t bs, uint64_t offset)
{
    for (uint64_t b = 0; b < bs; b += STAMP_BLOCK) {
        uint64_t words[2] = { offset + b, STAMP_MAGIC };
        memcpy(buf + b, words, sizeof(words));
    }
}

/* The offset of the first block whose stamp is wrong, or UINT64_MAX. */
static uint64_t check(const unsigned char *buf, uint64_t bs, uint64_t offset)
{
    for (uint64_t b = 0; b < bs; b += STAMP_BLOCK) {
        uint64_t words[2];
        memcpy(words, buf + b, sizeof(words));
        if (words[0] != offset + b || words[1] != STAMP_MAGIC) {
            return offset + b;
        }
    }
    return UINT64_MAX;
}

static int by_value(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a;
    uint64_t y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

static int run(int fd, const struct test *t, uint64_t start, uint64_t region, unsigned char *buf)
{
    const char *mode = t->write ? "write" : "read";
    uint64_t ios = t->bytes / t->bs;
    uint64_t pos = 0;
    /* Allocated before the clock starts. */
    uint64_t *times = calloc(ios, sizeof(*times));
    if (!times) {
        printf("BENCH-LINUX: error %s bs=%" PRIu64 " no memory for %" PRIu64 " request times\n",
            mode, t->bs, ios);
        return -1;
    }
    uint64_t begin = now_ns();
    uint64_t last = begin;
    for (uint64_t i = 0; i < ios; i++) {
        uint64_t offset = start + pos;
        ssize_t done;
        if (t->write) {
            stamp(buf, t->bs, offset);
            done = pwrite(fd, buf, t->bs, (off_t)offset);
        } else {
            done = pread(fd, buf, t->bs, (off_t)offset);
        }
        if (done != (ssize_t)t->bs) {
            printf("BENCH-LINUX: error %s bs=%" PRIu64 " request %" PRIu64 " at offset %" PRIu64
                   " returned %zd (%s)\n",
                mode, t->bs, i, offset, done, done < 0 ? strerror(errno) : "short");
            free(times);
            return -1;
        }
        uint64_t end = now_ns();
        times[i] = end - last;
        last = end;
        if (!t->write) {
            uint64_t bad = check(buf, t->bs, offset);
            if (bad != UINT64_MAX) {
                printf("BENCH-LINUX: error %s bs=%" PRIu64 " block at offset %" PRIu64
                       " does not hold what the write test put there\n",
                    mode, t->bs, bad);
                free(times);
                return -1;
            }
        }
        pos += t->bs;
        if (pos + t->bs > region) {
            pos = 0;
        }
    }
    if (t->write && fsync(fd) != 0) {
        printf("BENCH-LINUX: error %s bs=%" PRIu64 " fsync: %s\n", mode, t->bs, strerror(errno));
        free(times);
        return -1;
    }
    uint64_t ns = now_ns() - begin;
    qsort(times, ios, sizeof(*times), by_value);
    printf("BENCH-LINUX: %s bs=%" PRIu64 " bytes=%" PRIu64 " ios=%" PRIu64 " ns=%" PRIu64
           " p50=%" PRIu64 " p99=%" PRIu64 "\n",
        mode, t->bs, t->bytes, ios, ns, times[(ios - 1) * 50 / 100], times[(ios - 1) * 99 / 100]);
    free(times);
    return 0;
}

int main(int argc, char **argv)
{
    /* Line by line to the console, so the host sees each test as it ends. */
    setvbuf(stdout, NULL, _IOLBF, 0);
    uint64_t start;
    uint64_t region;
    if (argc < 5 || parse_u64(argv[2], &start) || parse_u64(argv[3], &region) || region == 0 ||
        start % STAMP_BLOCK || region % STAMP_BLOCK) {
        printf("BENCH-LINUX: error usage: bench DEVICE START REGION MODE:BS:BYTES... "
               "(START and REGION multiples of %d)\n",
            STAMP_BLOCK);
        return 2;
    }
    int fd = open(argv[1], O_RDWR | O_DIRECT);
    if (fd < 0) {
        printf("BENCH-LINUX: error open %s: %s\n", argv[1], strerror(errno));
        return 1;
    }
    void *buf;
    if (posix_memalign(&buf, STAMP_BLOCK, MAX_BS) != 0) {
        printf("BENCH-LINUX: error no memory for the buffer\n");
        return 1;
    }
    for (int i = 4; i < argc; i++) {
        struct test t;
        if (parse_test(argv[i], &t) || t.bytes < region || region % t.bs) {
            printf("BENCH-LINUX: error test '%s': want read|write:BS:BYTES, BS a multiple of %d "
                   "up to %d dividing the region (%" PRIu64 "), BYTES a multiple of BS and at "
                   "least the region\n",
                argv[i], STAMP_BLOCK, MAX_BS, region);
            return 2;
        }
        if (run(fd, &t, start, region, buf) != 0) {
            return 1;
        }
    }
    printf("BENCH-LINUX: done\n");
    return 0;
}
