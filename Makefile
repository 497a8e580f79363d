# raylight-gen build.
#   make            build/raylight-gen (with CUDA when nvcc is found)
#   make CUDA=0     CPU-only binary
#   make FFMPEG=0   without libavcodec (MP4 output then says so; PNG still works)
#   make test       every test that needs no GPU; ends with "N passed, N failed"
#   make fuzz       libFuzzer + AddressSanitizer harness for the safetensors parser
#   make asan       the binary and tests under AddressSanitizer (build-asan/)

BUILD   ?= build
CC      ?= gcc
NVCC    ?= nvcc
PKG     ?= pkg-config
OPT     ?= -O2
CFLAGS_BASE = -std=c11 $(OPT) -g -Wall -Wextra -Wno-unused-parameter -fopenmp \
              -D_GNU_SOURCE -Iinclude -Isrc -Ithird_party -DRL_SOURCE_DIR=\"$(CURDIR)\"
LDLIBS_BASE = -fopenmp -lm -lpthread

# ---------------------------------------------------------------- dependencies
# Each missing dependency stops the build with the Debian package to install.

CJSON_CFLAGS := $(shell $(PKG) --cflags libcjson 2>/dev/null)
CJSON_LIBS   := $(shell $(PKG) --libs libcjson 2>/dev/null)
ifeq ($(CJSON_LIBS),)
  # A carried copy (dpkg -x of libcjson-dev/libcjson1 into deps/) for machines without apt.
  ifneq ($(wildcard deps/usr/include/cjson/cJSON.h),)
    CJSON_CFLAGS := -Ideps/usr/include
    CJSON_LIBS   := -L$(CURDIR)/deps/usr/lib/x86_64-linux-gnu -lcjson -Wl,-rpath,$(CURDIR)/deps/usr/lib/x86_64-linux-gnu
  endif
endif
ifeq ($(CJSON_LIBS),)
  $(error cJSON not found: install the Debian package libcjson-dev (or run scripts/install-deps.sh))
endif

STB_DIR := $(firstword $(wildcard /usr/include/stb third_party/stb deps/usr/include/stb))
ifeq ($(wildcard $(STB_DIR)/stb_image_write.h),)
  $(error stb_image_write.h not found: install the Debian package libstb-dev (or run scripts/install-deps.sh))
endif
STB_CFLAGS := -I$(STB_DIR)

MPICC_SHOW := $(shell mpicc --showme:compile 2>/dev/null)
MPI_LIBS   := $(shell mpicc --showme:link 2>/dev/null)
ifeq ($(MPI_LIBS),)
  MPI_CFLAGS := $(shell $(PKG) --cflags ompi-c 2>/dev/null)
  MPI_LIBS   := $(shell $(PKG) --libs ompi-c 2>/dev/null)
else
  MPI_CFLAGS := $(MPICC_SHOW)
endif
ifeq ($(MPI_LIBS),)
  ifneq ($(wildcard /usr/include/mpi.h /usr/lib/x86_64-linux-gnu/openmpi/include/mpi.h),)
    MPI_CFLAGS := -I$(dir $(firstword $(wildcard /usr/lib/x86_64-linux-gnu/openmpi/include/mpi.h /usr/include/mpi.h)))
    MPI_LIBS   := -lmpi
  endif
endif
ifeq ($(MPI_LIBS),)
  $(error Open MPI not found: install the Debian packages libopenmpi-dev and openmpi-bin (or run scripts/install-deps.sh))
endif

FFMPEG ?= 1
ifeq ($(FFMPEG),1)
  AV_CFLAGS := $(shell $(PKG) --cflags libavcodec libavformat libswscale libavutil 2>/dev/null)
  AV_LIBS   := $(shell $(PKG) --libs libavcodec libavformat libswscale libavutil 2>/dev/null)
  ifeq ($(AV_LIBS),)
    $(error libavcodec/libavformat/libswscale not found: install the Debian packages libavcodec-dev libavformat-dev libswscale-dev (or run scripts/install-deps.sh), or build with make FFMPEG=0 (no MP4 output))
  endif
  AV_CFLAGS += -DRL_HAVE_FFMPEG=1
endif

NVCC_FOUND := $(shell command -v $(NVCC) 2>/dev/null || ls /usr/local/cuda/bin/nvcc 2>/dev/null)
ifeq ($(origin CUDA),undefined)
  CUDA := $(if $(NVCC_FOUND),1,0)
endif
ifeq ($(CUDA),1)
  ifeq ($(NVCC_FOUND),)
    $(error CUDA=1 but nvcc was not found: install the CUDA toolkit (nvcc on PATH) or build with make CUDA=0)
  endif
  NVCC := $(NVCC_FOUND)
  CUDA_HOME ?= $(patsubst %/bin/nvcc,%,$(NVCC_FOUND))
  CUDA_ARCHS ?= -gencode arch=compute_80,code=sm_80 -gencode arch=compute_90,code=sm_90 \
                -gencode arch=compute_90,code=compute_90
  NVCCFLAGS ?= -O3 -std=c++17 $(CUDA_ARCHS) -Iinclude -Isrc --expt-relaxed-constexpr \
               -Xcompiler -Wall,-Wno-unused-parameter
  CUDA_CFLAGS := -DRL_HAVE_CUDA=1 -I$(CUDA_HOME)/include
  NCCL_LIB := $(firstword $(wildcard $(CUDA_HOME)/lib64/libnccl.so /usr/lib/x86_64-linux-gnu/libnccl.so $(CUDA_HOME)/targets/x86_64-linux/lib/libnccl.so))
  CUDA_LIBS := -L$(CUDA_HOME)/lib64 -L$(CUDA_HOME)/targets/x86_64-linux/lib -lcublasLt -lcublas -lcudart -lstdc++
  ifneq ($(NCCL_LIB),)
    CUDA_LIBS += -lnccl
    CUDA_CFLAGS += -DRL_HAVE_NCCL=1
  endif
endif

CFLAGS  = $(CFLAGS_BASE) $(CJSON_CFLAGS) $(STB_CFLAGS) $(MPI_CFLAGS) $(AV_CFLAGS) $(CUDA_CFLAGS) $(EXTRA_CFLAGS)
LDLIBS  = $(CJSON_LIBS) $(MPI_LIBS) $(AV_LIBS) $(CUDA_LIBS) $(LDLIBS_BASE) $(EXTRA_LDLIBS)

# ---------------------------------------------------------------- sources

LIB_SRC  := $(filter-out src/cli/main.c, $(wildcard src/*/*.c))
ifneq ($(CUDA),1)
  LIB_SRC := $(filter-out src/backend/backend_cuda.c src/comm/comm_nccl.c, $(LIB_SRC))
endif
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o)
CU_SRC   := $(if $(filter 1,$(CUDA)),$(wildcard kernels/*.cu))
CU_OBJ   := $(CU_SRC:%.cu=$(BUILD)/%.o)
TEST_SRC := $(wildcard tests/test_*.c)
TEST_BIN := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
HEADERS  := $(wildcard include/*.h src/*/*.h tests/*.h kernels/*.h kernels/*.cuh)

.PHONY: all test test-gpu bench fuzz asan clean demo
all: $(BUILD)/raylight-gen

$(BUILD)/%.o: %.c $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/kernels/%.o: kernels/%.cu $(HEADERS)
	@mkdir -p $(dir $@)
	$(NVCC) $(NVCCFLAGS) -c $< -o $@

# wgmma exists only on sm_90a, whose image runs on compute capability 9.0 alone: this
# file's Hopper image is sm_90a instead of sm_90 (two 9.0 images would leave the pick
# to the driver; the sm_80 one is a stub the launcher never runs).
$(BUILD)/kernels/attention_wgmma.o: override CUDA_ARCHS = -gencode arch=compute_80,code=sm_80 \
                                                          -gencode arch=compute_90a,code=sm_90a

$(BUILD)/libraylight.a: $(LIB_OBJ) $(CU_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/raylight-gen: $(BUILD)/src/cli/main.o $(BUILD)/libraylight.a
	$(CC) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/%: tests/%.c $(BUILD)/libraylight.a $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests $< -o $@ $(BUILD)/libraylight.a $(LDLIBS)

test: $(BUILD)/raylight-gen $(TEST_BIN)
	@$(MAKE) --no-print-directory asan >/dev/null
	@BUILD=$(BUILD) bash tests/run.sh

# Benchmarks on a GPU machine: figures, never pass/fail (see docs/perf.md).
bench: $(BUILD)/raylight-gen
	bash scripts/bench-dit.sh $(BUILD)
	bash scripts/bench-usp.sh "$(GPUS)" $(BUILD)   # GPUS=N: that many (default: every visible GPU)

# The built-in demo: tiny random models from make-tiny, rendered to demo.mp4
# (on the GPU when one is usable, else on the CPU; a few seconds either way).
demo: $(BUILD)/raylight-gen
	$(BUILD)/raylight-gen make-tiny --out $(BUILD)/tiny
	$(BUILD)/raylight-gen --model tiny --model-dir $(BUILD)/tiny --prompt "a red fox in snow" --seed 42 \
	  -o $(if $(filter 1,$(FFMPEG)),demo.mp4,demo-frames/)

test-gpu: $(BUILD)/raylight-gen $(TEST_BIN)
	@BUILD=$(BUILD) RL_TEST_GPU=1 bash tests/run.sh gpu

# The fuzz target: clang's libFuzzer with AddressSanitizer over the safetensors parser.
FUZZ_CC ?= clang
FUZZ_SRC := src/io/safetensors.c src/core/dtype.c src/core/error.c src/core/tensor.c src/core/log.c
fuzz: $(BUILD)/fuzz_safetensors
	mkdir -p $(BUILD)/fuzz-corpus && cp tests/corpus/safetensors/* $(BUILD)/fuzz-corpus/
	$(BUILD)/fuzz_safetensors -max_total_time=$${FUZZ_SECONDS:-60} -max_len=4096 -dict=tests/fuzz_safetensors.dict $(BUILD)/fuzz-corpus

$(BUILD)/fuzz_safetensors: tests/fuzz_safetensors.c $(FUZZ_SRC) $(HEADERS)
	@mkdir -p $(BUILD)
	$(FUZZ_CC) -std=c11 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -D_GNU_SOURCE -Iinclude -Isrc \
	  $(CJSON_CFLAGS) $< $(FUZZ_SRC) -o $@ $(CJSON_LIBS) -lm

asan:
	$(MAKE) --no-print-directory BUILD=build-asan CUDA=0 OPT=-O1 EXTRA_CFLAGS="-fsanitize=address,undefined -fno-omit-frame-pointer" \
	  EXTRA_LDLIBS="-fsanitize=address,undefined" build-asan/raylight-gen

clean:
	rm -rf build build-asan
