# Outpost build. Plain GNU make; every target is described in the README.
#
#   make            build/outpost (optimised, hardened, -Werror)
#   make check      unit, fuzz-corpus and integration tests, plain and under ASan+UBSan,
#                   then the lab end to end (make check-e2e)
#   make bench      benchmarks against their references (see docs/benchmarks.md)
#   make fuzz       libFuzzer targets (clang), FUZZ_SECONDS each
#   make bundles    the bundles of bundles/ (a Debian 12 image, lab firmware), signed
#   make check-bundles  make bundles, then boot the Debian image in QEMU
#   make ramdisk    the deploy/discovery ramdisk: $(BUILD)/ramdisk/vmlinuz and initrd.img
#   make check-ramdisk  make ramdisk, then boot it in QEMU until its init powers off
#   make check-e2e  make bundles, then discover and deploy servers in the QEMU lab
#   make demo       build everything, then deploy Debian to a BIOS and a UEFI server in the lab
#   make deps       install every Debian package the build, tests, lab and demo need
#
# NO_WERROR=1 turns warnings back into warnings. SANITIZER=address,undefined builds
# into build-san/ with those sanitizers.

CC ?= gcc
# V=1 prints every command in full.
ifneq ($(V),1)
Q := @
quiet = @printf '  %-6s %s\n' $(1) $(2);
endif
PKGS := libmicrohttpd sqlite3 jansson libcrypto libcurl libsystemd libzstd libfreeipmi

ifeq ($(SANITIZER),)
BUILD ?= build
OPT := -O2 -D_FORTIFY_SOURCE=2
else
BUILD ?= build-san
OPT := -O1 -fno-omit-frame-pointer -fsanitize=$(SANITIZER) -fno-sanitize-recover=all
SANLDFLAGS := -fsanitize=$(SANITIZER)
endif

WARN := -Wall -Wextra -Wshadow -Wmissing-prototypes -Wcast-qual -Wsign-compare \
	-Wformat=2 -Wstrict-prototypes -Wvla
ifneq ($(NO_WERROR),1)
WARN += -Werror
endif
HARDEN := -fstack-protector-strong -fstack-clash-protection -fcf-protection -fPIE

CFLAGS ?= -g
VERSION := 0.1.0
ALL_CFLAGS := -std=c17 -D_GNU_SOURCE -DOUTPOST_VERSION='"$(VERSION)"' $(OPT) $(WARN) $(HARDEN) $(CFLAGS) \
	-Isrc $(shell pkg-config --cflags $(PKGS))
ALL_LDFLAGS := -pie -Wl,-z,relro,-z,now $(SANLDFLAGS) $(LDFLAGS)
LIBS := $(shell pkg-config --libs $(PKGS)) -lpthread

# Every src/<module>/*.c goes into liboutpost.a; src/main.c is the multi-call entry.
# The folders in PROGRAM_DIRS are small programs of their own, not library modules.
# MODULES="util store" limits the library to those folders, TESTS="store" the unit tests,
# so one module can be built and tested while others are still being written.
PROGRAM_DIRS := src/keahook src/agent src/redfishsim
MODULE_DIRS := $(filter-out $(PROGRAM_DIRS),$(if $(MODULES),$(MODULES:%=src/%),$(wildcard src/*)))
LIB_SRCS := $(sort $(wildcard $(MODULE_DIRS:%=%/*.c)))
LIB_ASMS := $(sort $(wildcard $(MODULE_DIRS:%=%/*.S)))
LIB_OBJS := $(LIB_SRCS:%.c=$(BUILD)/%.o) $(LIB_ASMS:%.S=$(BUILD)/%.o)
UNIT_SRCS := $(sort $(wildcard $(if $(TESTS),$(TESTS:%=tests/unit/%_test.c),tests/unit/*_test.c)))
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)
FUZZ_SRCS := $(sort $(wildcard $(if $(FUZZERS),$(FUZZERS:%=tests/fuzz/%.c),tests/fuzz/fuzz_*.c)))
FUZZ_NAMES := $(FUZZ_SRCS:tests/fuzz/%.c=%)
REPLAY_BINS := $(FUZZ_NAMES:%=$(BUILD)/tests/replay_%)

.SECONDARY:
JOBS ?= $(shell nproc)

.PHONY: fuzz-binaries test-binaries all check check-plain check-san unit fuzz-replay integration bench fuzz deps \
	bundles check-bundles ramdisk check-ramdisk check-e2e \
	clean demo
all: $(BUILD)/outpost $(BUILD)/outpost-kea-hook $(BUILD)/outpost-agent $(BUILD)/outpost-redfish-sim

# A static pattern rule for the library objects, so a module source added after the
# archive was built is still compiled; the plain pattern rule covers test objects.
$(filter %.o,$(LIB_SRCS:%.c=$(BUILD)/%.o)): $(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(call quiet,CC,$<)$(CC) $(ALL_CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(call quiet,CC,$<)$(CC) $(ALL_CFLAGS) -MMD -MP -c -o $@ $<

# .S files embed data such as the OpenAPI document; their paths are relative to the tree.
$(BUILD)/%.o: %.S
	@mkdir -p $(dir $@)
	$(call quiet,AS,$<)$(CC) -c -o $@ $<

# The assembler embeds the document, so the object depends on it.
$(BUILD)/src/api/openapi.o: src/api/openapi.json

$(BUILD)/liboutpost.a: $(LIB_OBJS)
	@rm -f $@
	$(call quiet,AR,$@)ar rcs $@ $^

$(BUILD)/outpost: $(BUILD)/src/main.o $(BUILD)/liboutpost.a
	$(call quiet,LINK,$@)$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)

# Kea starts it once per lease event, so it is static: no shared libraries to load.
# Sanitizer runtimes need dynamic linking, so sanitizer builds link it dynamically.
$(BUILD)/outpost-kea-hook: src/keahook/keahook.c
	@mkdir -p $(dir $@)
	$(call quiet,LINK,$@)$(CC) $(ALL_CFLAGS) $(if $(SANITIZER),$(ALL_LDFLAGS),-static-pie) -o $@ $<

# outpost-agent runs in the ramdisk, which holds it and the shared libraries it links
# (bootenv/ramdisk/build.sh copies them the way initramfs-tools does). It uses none of
# liboutpost, so its tests in tests/agent/ link its own objects without main.c.
AGENT_PKGS := jansson libcrypto libzstd
AGENT_SRCS := $(sort $(wildcard src/agent/*.c))
AGENT_OBJS := $(AGENT_SRCS:%.c=$(BUILD)/%.o)
AGENT_LIB_OBJS := $(filter-out $(BUILD)/src/agent/main.o,$(AGENT_OBJS))
AGENT_TEST_SRCS := $(sort $(wildcard tests/agent/*_test.c))
AGENT_TEST_BINS := $(AGENT_TEST_SRCS:tests/agent/%.c=$(BUILD)/tests/agent_%)
AGENT_LIBS := $(shell pkg-config --libs $(AGENT_PKGS))

$(BUILD)/outpost-agent: $(AGENT_OBJS)
	$(call quiet,LINK,$@)$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $^ $(AGENT_LIBS)

$(BUILD)/tests/agent_%_test: $(BUILD)/tests/agent/%_test.o $(AGENT_LIB_OBJS)
	@mkdir -p $(dir $@)
	$(call quiet,LINK,$@)$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $^ $(AGENT_LIBS) -lcmocka

$(BUILD)/tests/%_test: $(BUILD)/tests/unit/%_test.o $(BUILD)/liboutpost.a
	@mkdir -p $(dir $@)
	$(call quiet,LINK,$@)$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $^ $(LIBS) -lcmocka

# The CLI tests share a canned API server and output capture (tests/unit/cli_fixture.c).
# NOTE: the fixture links after liboutpost.a, so it resolves only the library functions
# that the CLI code pulls in (util's buf_*).
$(BUILD)/tests/cli_test $(BUILD)/tests/cli_bmc_test: $(BUILD)/tests/unit/cli_fixture.o

# Replay binaries run a fuzz target over its corpus without libFuzzer, so the corpora
# are checked with gcc and the sanitizers in every `make check`.
# They link the agent's objects too, for the agent's parsers' targets.
$(BUILD)/tests/replay_%: $(BUILD)/tests/fuzz/%.o $(BUILD)/tests/fuzz/replay.o $(AGENT_LIB_OBJS) \
		$(BUILD)/liboutpost.a
	@mkdir -p $(dir $@)
	$(call quiet,LINK,$@)$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)

# outpost-redfish-sim emulates one server's BMC for the QEMU lab and the BMC tests
# (usage in src/redfishsim/main.c). It links liboutpost for the HTTPS server and helpers.
RFSIM_SRCS := $(sort $(wildcard src/redfishsim/*.c))
RFSIM_OBJS := $(RFSIM_SRCS:%.c=$(BUILD)/%.o)

$(BUILD)/outpost-redfish-sim: $(RFSIM_OBJS) $(BUILD)/liboutpost.a
	$(call quiet,LINK,$@)$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)

# The emulator's request-body parser is not in liboutpost, so its fuzz target links it.
$(BUILD)/tests/replay_fuzz_redfish_body $(BUILD)/fuzz/fuzz_redfish_body: \
	$(BUILD)/src/redfishsim/body.o

# bmc_tool runs one operation of src/bmc against a BMC, for the BMC tests.
$(BUILD)/tests/bmc_tool: $(BUILD)/tests/bmc/bmc_tool.o $(BUILD)/liboutpost.a
	@mkdir -p $(dir $@)
	$(call quiet,LINK,$@)$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)

unit: $(UNIT_BINS) $(AGENT_TEST_BINS)
	@tests/run-unit.sh $(UNIT_BINS) $(AGENT_TEST_BINS)

fuzz-replay: $(REPLAY_BINS)
	@tests/run-replay.sh $(BUILD) $(FUZZ_NAMES)

integration: $(BUILD)/outpost $(BUILD)/tests/bmc_tool
	@OUTPOST=$(abspath $(BUILD)/outpost) tests/integration/run.sh

# Build in parallel, then run the suites one after another so their output stays apart.
test-binaries: $(BUILD)/outpost $(BUILD)/outpost-kea-hook $(BUILD)/outpost-agent $(UNIT_BINS) \
	$(BUILD)/outpost-redfish-sim \
	$(AGENT_TEST_BINS) $(REPLAY_BINS) $(BUILD)/tests/bmc_tool

check-plain:
	$(MAKE) -j$(JOBS) test-binaries
	$(MAKE) -j1 unit fuzz-replay integration

check-san:
	$(MAKE) -j$(JOBS) SANITIZER=address,undefined test-binaries
	$(MAKE) -j1 SANITIZER=address,undefined unit fuzz-replay integration

check:
	@tools/deps.sh build test >/dev/null
	$(MAKE) check-plain
	$(MAKE) check-san
	$(MAKE) check-e2e
	@echo "check: plain and ASan+UBSan runs and the lab end to end passed"

# libFuzzer builds with clang into FUZZ_BUILD; FUZZ_SECONDS bounds each target's run.
FUZZ_SECONDS ?= 60
FUZZ_BUILD ?= build-fuzz
FUZZ_BINS := $(FUZZ_NAMES:%=$(BUILD)/fuzz/%)

$(BUILD)/fuzz/%: $(BUILD)/tests/fuzz/%.o $(AGENT_LIB_OBJS) $(BUILD)/liboutpost.a
	@mkdir -p $(dir $@)
	$(call quiet,LINK,$@)$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -fsanitize=fuzzer -o $@ $^ $(LIBS)

fuzz-binaries: $(FUZZ_BINS)

fuzz:
	$(MAKE) -j$(JOBS) BUILD=$(FUZZ_BUILD) CC=clang SANITIZER=address,undefined \
		CFLAGS="-g -fsanitize=fuzzer-no-link" NO_WERROR=1 fuzz-binaries
	@tests/fuzz/run-fuzz.sh $(FUZZ_BUILD) $(FUZZ_SECONDS) $(FUZZ_NAMES)

# Bundles from the recipes in bundles/, cached in $(BUILD)/bundles until a recipe changes.
BUNDLE_RECIPES := debian-12 firmware ramdisk

bundles: $(BUILD)/outpost $(BUILD)/outpost-agent
	@tools/deps.sh build recipes ramdisk >/dev/null
	OUTPOST=$(abspath $(BUILD)/outpost) OUTPOST_AGENT=$(abspath $(BUILD)/outpost-agent) \
		bundles/build.sh $(abspath $(BUILD)/bundles) $(BUNDLE_RECIPES)

# Build the bundles, then boot the Debian image under SeaBIOS and OVMF in QEMU.
check-bundles: bundles
	OUTPOST=$(abspath $(BUILD)/outpost) tests/recipes/boot_debian_image.sh \
		$$(ls $(abspath $(BUILD)/bundles)/debian-12-*.bundle)

# The netboot ramdisk from Debian's kernel and busybox-static, cached in $(BUILD)/ramdisk.
ramdisk: $(BUILD)/outpost-agent
	@tools/deps.sh build ramdisk >/dev/null
	OUTPOST_AGENT=$(abspath $(BUILD)/outpost-agent) bootenv/ramdisk/build.sh $(abspath $(BUILD)/ramdisk)

# Boot the ramdisk in QEMU with outpost.test=poweroff and check its console.
check-ramdisk: ramdisk
	tests/recipes/boot_ramdisk.sh $(abspath $(BUILD)/ramdisk)

bench: all
	@tools/deps.sh build test bench ddi lab recipes ramdisk >/dev/null
	$(MAKE) bundles
	@OUTPOST=$(abspath $(BUILD)/outpost) tests/bench/run.sh

deps:
	tools/deps.sh

# The main job in the QEMU lab: build everything, then qemu/demo discovers and deploys
# a BIOS and a UEFI server. The lab stays up; qemu/lab down stops it.
demo:
	tools/deps.sh build recipes ramdisk lab
	$(MAKE) all
	$(MAKE) bundles
	BUILD=$(abspath $(BUILD)) qemu/demo

# The lab end to end: discovery by all three firmware paths, the servers' BMCs, then
# deployments with ssh, and a virtual-media deployment on a network without DHCP.
check-e2e: all $(BUILD)/tests/bmc_tool
	@tools/deps.sh lab recipes ramdisk >/dev/null
	$(MAKE) bundles
	OUTPOST=$(abspath $(BUILD)/outpost) tests/e2e/test_lab_discovery.sh
	OUTPOST=$(abspath $(BUILD)/outpost) tests/e2e/test_lab_bmc.sh
	OUTPOST=$(abspath $(BUILD)/outpost) BUNDLE_DIR=$(abspath $(BUILD)/bundles) \
		tests/e2e/test_lab_deploy.sh
	OUTPOST=$(abspath $(BUILD)/outpost) BUNDLE_DIR=$(abspath $(BUILD)/bundles) \
		tests/e2e/test_media_boot.sh
	OUTPOST=$(abspath $(BUILD)/outpost) BUNDLE_DIR=$(abspath $(BUILD)/bundles) \
		tests/e2e/test_lab_vmedia.sh

clean:
	rm -rf build build-san build-fuzz

-include $(shell find $(BUILD) -name '*.d' -type f 2>/dev/null)
