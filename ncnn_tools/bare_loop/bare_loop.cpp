// The bare timing loop benchmarks/runner_overhead.py holds edgebench-runner against: benchncnn's method and
// nothing else (zero weights, pool allocators, NCNN's default options; the timer spans create extractor, input,
// extract). Prints one line: the per-iteration times in ms, space separated.
// usage: bare_loop PARAM C H W WARMUP LOOPS

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <chrono>

#include "datareader.h"
#include "net.h"

class Zeros : public ncnn::DataReader
{
public:
    virtual int scan(const char*, void*) const
    {
        return 0;
    }
    virtual size_t read(void* buf, size_t size) const
    {
        memset(buf, 0, size);
        return size;
    }
};

int main(int argc, char** argv)
{
    if (argc != 7)
    {
        fprintf(stderr, "usage: %s PARAM C H W WARMUP LOOPS\n", argv[0]);
        return 2;
    }
    const int c = atoi(argv[2]), h = atoi(argv[3]), w = atoi(argv[4]), warmup = atoi(argv[5]), loops = atoi(argv[6]);

    ncnn::UnlockedPoolAllocator blob_pool;
    ncnn::PoolAllocator workspace_pool;
    ncnn::Net net;
    net.opt.lightmode = true;
    net.opt.num_threads = 1;
    net.opt.blob_allocator = &blob_pool;
    net.opt.workspace_allocator = &workspace_pool;
    if (net.load_param(argv[1]) != 0) return 1;
    Zeros zeros;
    net.load_model(zeros);

    const char* in_name = net.input_names()[0];
    const char* out_name = net.output_names()[0];
    ncnn::Mat in(w, h, c);
    in.fill(0.01f);

    for (int i = 0; i < warmup + loops; i++)
    {
        std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();
        {
            ncnn::Extractor ex = net.create_extractor();
            ex.input(in_name, in);
            ncnn::Mat out;
            ex.extract(out_name, out);
        }
        double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
        if (i >= warmup) printf("%s%.6f", i > warmup ? " " : "", ms);
    }
    printf("\n");
    return 0;
}
