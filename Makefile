# SPDX-License-Identifier: GPL-2.0-only
# qaic: accel driver, simulated AIC100 card, libqaic, client, benchmark and tests.
#
#   make [O=DIR] [V=1] [SANITIZE=address,undefined|thread]   build everything into DIR (build/)
#   make check | check-debug | demo | bench | man | deb | fuzz | fuzz-regressions | failslab | deps | install PREFIX=... | clean | defconfig | menuconfig
#
# Non-recursive: one make sees every object, so header dependencies (-MMD) and -j are exact.

SRC := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))
comma := ,

# Sanitizer builds get their own output folder so they never mix objects with a normal build.
ifneq ($(SANITIZE),)
O ?= build-$(subst $(comma),-,$(SANITIZE))
endif
O ?= build
override O := $(abspath $(O))

V ?= 0
ifeq ($(V),1)
Q :=
else
Q := @
endif

PREFIX ?= /usr/local
DESTDIR ?=
# Where make install puts libqaic and qaic.pc (a distribution's multiarch folder, say), and
# systemd's units and qaicd's defaults.
LIBDIR ?= $(PREFIX)/lib
SYSTEMDUNITDIR ?= $(PREFIX)/lib/systemd/system
SYSCONFDIR ?= $(if $(filter /usr,$(PREFIX)),/etc,$(PREFIX)/etc)
# The run path the build's programs find libqaic.so in (empty for a package's build, whose
# programs find the installed library).
RPATH ?= $(O)/lib
RPATH_FLAG = $(if $(RPATH),-Wl$(comma)-rpath$(comma)$(RPATH))
# Debian's kconfiglib lives in the system python, not in any python earlier on PATH.
PYTHON ?= /usr/bin/python3
CXX ?= g++
CC ?= gcc

.DEFAULT_GOAL := all
.SUFFIXES:
.DELETE_ON_ERROR:

# Goals that must not generate a configuration or look up packages.
NOCONFIG_GOALS := clean distclean deps help defconfig menuconfig check demo bench deb fuzz fuzz-regressions failslab \
	check-sources check-debug
ifneq ($(filter-out $(NOCONFIG_GOALS),$(or $(MAKECMDGOALS),all)),)
NEED_CONFIG := 1
endif

# ---------------------------------------------------------------------------- configuration
CONFIG := $(O)/.config
AUTOCONF := $(O)/include/generated/autoconf.h
KCONFIG := KCONFIG_CONFIG=$(CONFIG) srctree=$(SRC) $(PYTHON) -m

$(CONFIG):
	$(Q)mkdir -p $(O)
	@echo "  DEFCONFIG $(CONFIG)"
	$(Q)cd $(SRC) && $(KCONFIG) alldefconfig Kconfig >/dev/null

# olddefconfig first so a .config from an older Kconfig gains the new symbols' defaults;
# genconfig rewrites the header only when its content changes.
$(AUTOCONF): $(CONFIG) $(SRC)/Kconfig
	$(Q)mkdir -p $(dir $@)
	@echo "  GEN       $(AUTOCONF)"
	$(Q)cd $(SRC) && $(KCONFIG) olddefconfig Kconfig >/dev/null && \
		$(KCONFIG) genconfig --header-path $@ Kconfig && touch $@

.PHONY: defconfig menuconfig
defconfig:
	$(Q)mkdir -p $(O)
	$(Q)cd $(SRC) && $(KCONFIG) alldefconfig Kconfig

menuconfig:
	$(Q)mkdir -p $(O)
	$(Q)cd $(SRC) && $(KCONFIG) menuconfig Kconfig

ifdef NEED_CONFIG
-include $(CONFIG)
endif

# ---------------------------------------------------------------------------- version
# The project's one version (VERSION: the version, then its release date), for the library's
# file name and pkg-config, every tool's --version and the driver's DRM_IOCTL_VERSION: through
# the generated <qaic/version.h>. Its major number is the SONAME's: it changes exactly when
# libqaic's ABI changes incompatibly (CHANGES says what each version changed).
QAIC_VERSION := $(shell sed -n 1p $(SRC)/VERSION)
QAIC_VERSION_MAJOR := $(firstword $(subst ., ,$(QAIC_VERSION)))
VERSION_H := $(O)/include/qaic/version.h

$(VERSION_H): $(SRC)/VERSION
	$(Q)mkdir -p $(dir $@)
	@echo "  GEN       $(patsubst $(O)/%,%,$@)"
	$(Q)$(SRC)/scripts/gen-version-header.sh $< > $@.tmp && mv $@.tmp $@

# ---------------------------------------------------------------------------- flags
ifdef NEED_CONFIG
PKG_CFLAGS := $(shell pkg-config --cflags libdrm gtest 2>/dev/null)
# What libqaic links with: libdrm (drmIoctl), zlib (the control messages' CRC-32).
QAIC_DEP_LIBS := $(shell pkg-config --libs libdrm zlib 2>/dev/null)
GTEST_LIBS := $(shell pkg-config --libs gmock gtest 2>/dev/null)
BENCH_LIBS := $(shell pkg-config --libs benchmark 2>/dev/null)
UMOCKDEV_CFLAGS := $(shell pkg-config --cflags umockdev-1.0 2>/dev/null)
UMOCKDEV_LIBS := $(shell pkg-config --libs umockdev-1.0 2>/dev/null)
DISCOVERY_LIBS := $(shell pkg-config --libs libudev libpci 2>/dev/null)
endif

SAN_FLAGS := $(if $(SANITIZE),-fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all)
WARN := -Wall -Wextra -Werror=return-type -Wno-missing-field-initializers
INCLUDES := -I$(SRC) -I$(SRC)/include/uapi -I$(SRC)/userspace/include -I$(O)/include
CPPFLAGS := $(INCLUDES) -include $(AUTOCONF) -D_GNU_SOURCE
CXXFLAGS := -std=c++20 -O2 -g -fPIC -fvisibility=hidden $(WARN) $(SAN_FLAGS) $(PKG_CFLAGS) \
	$(EXTRA_CXXFLAGS)
LDFLAGS := $(SAN_FLAGS) -pthread $(EXTRA_LDFLAGS)

# ---------------------------------------------------------------------------- sources
# Every source file, by folder, one per line and sorted; $(call srcs,FOLDER) is FOLDER's list
# as paths. Whether a folder is built is decided below (by the configuration), not here. A .cc
# file under SOURCE_FOLDERS that no list names fails `make` and `make check`
# (check-sources), so a new file cannot silently stay out of the build: add it here.
SOURCE_FOLDERS := drivers fuzz host hw kernel selftests userspace

srcs-kernel := $(addprefix kernel/, \
	alloc.cc \
	crc32.cc \
	devcoredump.cc \
	fence.cc \
	mm.cc \
	printk.cc \
	task.cc \
	uaccess.cc \
	workqueue.cc \
)
srcs-kernel-tests := $(addprefix kernel/tests/, \
	alloc_test.cc \
	bytes_test.cc \
	devcoredump_test.cc \
	devres_test.cc \
	idr_test.cc \
	locked_test.cc \
	mm_test.cc \
	refcount_test.cc \
	result_test.cc \
	spin_test.cc \
	task_test.cc \
	uaccess_test.cc \
	wait_test.cc \
	workqueue_test.cc \
)
srcs-drivers-accel := $(addprefix drivers/accel/, \
	accel_device.cc \
	accel_file.cc \
	accel_gem.cc \
	accel_ioctl.cc \
	accel_prime.cc \
)
srcs-drivers-accel-tests := $(addprefix drivers/accel/tests/, \
	accel_core_test.cc \
)
srcs-drivers-accel-qaic := $(addprefix drivers/accel/qaic/, \
	page_pool.cc \
	qaic_bo.cc \
	qaic_control.cc \
	qaic_data.cc \
	qaic_drv.cc \
	qaic_manage.cc \
	qaic_ras.cc \
	qaic_sched.cc \
	qaic_slice.cc \
	qaic_ssr.cc \
	qaic_sysfs.cc \
)
srcs-drivers-accel-qaic-tests := $(addprefix drivers/accel/qaic/tests/, \
	bo_memfd_test.cc \
	control_race_test.cc \
	execute_alloc_test.cc \
	interrupt_test.cc \
	manage_test.cc \
	page_pool_test.cc \
	params_test.cc \
	probe_alloc_test.cc \
	profile_test.cc \
	ras_dump_test.cc \
	reject_test.cc \
	sched_test.cc \
	slice_test.cc \
	sysfs_test.cc \
	uapi_layout_test.cc \
)
srcs-hw-aic100 := $(addprefix hw/aic100/, \
	card.cc \
	channel.cc \
	dbc.cc \
	firmware.cc \
	iommu.cc \
	nnc.cc \
	nsp.cc \
	sim_pci.cc \
)
srcs-hw-aic100-tests := $(addprefix hw/aic100/tests/, \
	busy_poll_test.cc \
	dbc_cmd_test.cc \
	dbc_ring_test.cc \
	device_test.cc \
	fault_test.cc \
	firmware_test.cc \
	iommu_test.cc \
	msi_test.cc \
	nnc_test.cc \
	nsp_test.cc \
	profile_test.cc \
	reset_test.cc \
	semaphore_test.cc \
)
srcs-host := $(addprefix host/, \
	machine.cc \
)
srcs-host-qaicd := $(addprefix host/qaicd/, \
	main.cc \
	server.cc \
)
srcs-host-qaicd-tests := $(addprefix host/qaicd/tests/, \
	death_test.cc \
	isolation_test.cc \
	lifetime_test.cc \
	peer_test.cc \
	ras_test.cc \
	watch_test.cc \
	wire_test.cc \
)
srcs-userspace-lib := $(addprefix userspace/lib/, \
	backend_daemon.cc \
	backend_node.cc \
	backend_sim.cc \
	qaic.cc \
)
srcs-userspace-client := $(addprefix userspace/client/, \
	mlp.cc \
	qaic_client.cc \
)
srcs-userspace-bench := $(addprefix userspace/bench/, \
	qaic_bench.cc \
)
srcs-userspace-run := $(addprefix userspace/run/, \
	qaic_run.cc \
)
srcs-userspace-preload := $(addprefix userspace/preload/, \
	preload.cc \
)
srcs-selftests-lib := $(addprefix selftests/lib/, \
	ktap_main.cc \
)
srcs-selftests-drivers-accel-qaic := $(addprefix selftests/drivers/accel/qaic/, \
	bo_test.cc \
	concurrency_test.cc \
	control_fault_test.cc \
	core_ioctl_test.cc \
	datapath_fault_test.cc \
	device_file_test.cc \
	execute_test.cc \
	manage_fault_test.cc \
	manage_test.cc \
	mmap_test.cc \
	nnc_test.cc \
	nsp_test.cc \
	prime_test.cc \
	ras_test.cc \
	slice_test.cc \
	sysfs_test.cc \
	wait_test.cc \
)
srcs-selftests-failslab := $(addprefix selftests/failslab/, \
	control_irq_test.cc \
	failslab.cc \
)
srcs-selftests-unmodified := $(addprefix selftests/unmodified/, \
	unmodified_test.cc \
)
srcs-fuzz := $(addprefix fuzz/, \
	firmware_fuzz.cc \
	uapi_fuzz.cc \
	wire_fuzz.cc \
)
srcs-fuzz-tests := $(addprefix fuzz/tests/, \
	harness_test.cc \
)

srcs = $(addprefix $(SRC)/,$(srcs-$(subst /,-,$(1))))
# Every file some list names, whether or not this configuration builds it.
LISTED_SRCS = $(sort $(foreach v,$(filter srcs-%,$(.VARIABLES)),$($(v))))

KERNEL_SRCS := $(call srcs,kernel)
DRIVER_SRCS := $(if $(CONFIG_DRM_ACCEL_QAIC),$(call srcs,drivers/accel) $(call srcs,drivers/accel/qaic))
HW_SRCS := $(if $(CONFIG_QAIC_SIM),$(call srcs,hw/aic100))
HOST_SRCS := $(if $(CONFIG_QAIC_SIM),$(call srcs,host))
LIBQAIC_SRCS := $(call srcs,userspace/lib)
# The "kernel side" (kernel/, drivers/, hw/ and the machine that assembles them, host/) is
# linked into libqaic: the embedded sim backend hosts it in the client process. qaicd links
# the same objects from libqaic.a.
LIB_SRCS := $(LIBQAIC_SRCS) $(KERNEL_SRCS) $(DRIVER_SRCS) $(HW_SRCS) $(HOST_SRCS)

obj = $(patsubst $(SRC)/%.cc,$(O)/obj/%.o,$(1))
LIB_OBJS := $(call obj,$(LIB_SRCS))

# libqaic.so's ABI is the calls of userspace/lib/libqaic.map, in their version nodes, and
# nothing else; the SONAME's number changes only when one of them changes incompatibly.
LIBQAIC_SONAME := libqaic.so.$(QAIC_VERSION_MAJOR)
LIBQAIC_REAL := $(O)/lib/libqaic.so.$(QAIC_VERSION)
LIBQAIC_SO := $(O)/lib/libqaic.so
LIBQAIC_A := $(O)/lib/libqaic.a
QAIC_PC := $(O)/lib/pkgconfig/qaic.pc
CLIENT := $(O)/bin/qaic-client
BENCH := $(O)/bin/qaic-bench
QAICD := $(if $(CONFIG_QAIC_SIM),$(O)/bin/qaicd)
# Unmodified programs against qaicd's cards: qaic-run and the preload library it puts in them.
PRELOAD := $(if $(CONFIG_QAIC_SIM),$(O)/lib/libqaic-preload.so)
QAIC_RUN := $(if $(CONFIG_QAIC_SIM),$(O)/bin/qaic-run)

KTAP_OBJ := $(call obj,$(call srcs,selftests/lib))

# Test binaries: one per tests folder. Unit tests link libqaic.a (they reach internals);
# the selftests link libqaic.so and use nothing but the uAPI and the device-file ABI.
UNIT_TEST_DIRS := kernel/tests fuzz/tests \
	$(if $(CONFIG_DRM_ACCEL_QAIC),drivers/accel/tests drivers/accel/qaic/tests) \
	$(if $(CONFIG_QAIC_SIM),hw/aic100/tests host/qaicd/tests)
test_name = $(subst /,_,$(patsubst %/tests,%,$(1)))_test
UNIT_TESTS := $(foreach d,$(UNIT_TEST_DIRS),$(if $(call srcs,$(d)),$(O)/tests/$(call test_name,$(d))))
SELFTEST := $(O)/tests/qaic_selftest
# A program that knows nothing of libqaic: libudev, libpci and the uAPI only (run by qaic-run).
UNMODIFIED := $(if $(CONFIG_QAIC_SIM),$(O)/tests/qaic_unmodified)
# The selftests again, every allocation of each call made to fail in turn (libqaic.a, whose
# internals the sweep uses; the embedded card only). check runs it in the plain build, less
# the cases it cannot judge (scripts/run-tests.sh); `make failslab` runs every case.
FAILSLAB := $(if $(CONFIG_QAIC_SIM),$(O)/tests/qaic_selftest_failslab)
TESTS := $(UNIT_TESTS) $(SELFTEST) $(UNMODIFIED) $(if $(SANITIZE),,$(FAILSLAB))

ALL_OBJS := $(LIB_OBJS) $(KTAP_OBJ) \
	$(call obj,$(foreach d,$(UNIT_TEST_DIRS) selftests/drivers/accel/qaic selftests/failslab selftests/unmodified userspace/client userspace/bench userspace/run userspace/preload host/qaicd fuzz,$(call srcs,$(d))))

# ---------------------------------------------------------------------------- rules
# Every .cc file under SOURCE_FOLDERS is in a list, and every listed file exists.
.PHONY: check-sources
check-sources:
	$(Q)$(SRC)/scripts/check-sources.sh $(SRC) "$(SOURCE_FOLDERS)" $(LISTED_SRCS)

.PHONY: all
all: check-sources $(VERSION_H) $(LIBQAIC_SO) $(LIBQAIC_A) $(QAIC_PC) $(CLIENT) $(QAICD) $(PRELOAD) $(QAIC_RUN) $(BENCH)

$(O)/obj/%.o: $(SRC)/%.cc $(AUTOCONF) | $(VERSION_H)
	$(Q)mkdir -p $(dir $@)
	@echo "  CXX       $(patsubst $(SRC)/%,%,$<)"
	$(Q)$(CXX) $(CPPFLAGS) $(CXXFLAGS) -MMD -MP -c $< -o $@

$(LIBQAIC_REAL): $(LIB_OBJS) $(SRC)/userspace/lib/libqaic.map
	$(Q)mkdir -p $(dir $@)
	@echo "  LD        $(patsubst $(O)/%,%,$@)"
	$(Q)$(CXX) -shared -Wl,-soname,$(LIBQAIC_SONAME) -Wl,--no-undefined \
		-Wl,--version-script=$(SRC)/userspace/lib/libqaic.map -o $@ $(filter %.o,$^) \
		$(LDFLAGS) $(QAIC_DEP_LIBS)

# The links a distribution ships: the SONAME's (for the loader) and the dev link (for -lqaic).
$(LIBQAIC_SO): $(LIBQAIC_REAL)
	$(Q)ln -sf $(notdir $<) $(dir $@)$(LIBQAIC_SONAME)
	$(Q)ln -sf $(LIBQAIC_SONAME) $@

$(LIBQAIC_A): $(LIB_OBJS)
	$(Q)mkdir -p $(dir $@)
	@echo "  AR        $(patsubst $(O)/%,%,$@)"
	$(Q)rm -f $@ && ar rcs $@ $^

# The build-tree qaic.pc points at the source headers and this build's library, so clients
# compile and link without installing (rpath included; sanitizer builds need the runtime first).
$(QAIC_PC): $(SRC)/Makefile $(CONFIG) $(SRC)/VERSION
	$(Q)mkdir -p $(dir $@)
	@echo "  GEN       $(patsubst $(O)/%,%,$@)"
	$(Q)printf '%s\n' \
		'prefix=$(O)' 'libdir=$${prefix}/lib' \
		'Name: qaic' 'Description: Qualcomm Cloud AI 100 accel userspace library (build tree)' \
		'Version: $(QAIC_VERSION)' 'Requires: libdrm' 'Requires.private: zlib' \
		'Cflags: -I$(SRC)/include/uapi -I$(SRC)/userspace/include -I$(O)/include' \
		'Libs: $(SAN_FLAGS) -L$${libdir} -Wl,-rpath,$${libdir} -lqaic' \
		'Libs.private: -lstdc++ -lpthread' > $@

$(CLIENT): $(call obj,$(call srcs,userspace/client)) $(LIBQAIC_SO)
	$(Q)mkdir -p $(dir $@)
	@echo "  LD        $(patsubst $(O)/%,%,$@)"
	$(Q)$(CXX) -o $@ $(filter %.o,$^) -L$(O)/lib $(RPATH_FLAG) -lqaic $(LDFLAGS)

$(BENCH): $(call obj,$(call srcs,userspace/bench)) $(LIBQAIC_SO)
	$(Q)mkdir -p $(dir $@)
	@echo "  LD        $(patsubst $(O)/%,%,$@)"
	$(Q)$(CXX) -o $@ $(filter %.o,$^) -L$(O)/lib $(RPATH_FLAG) -lqaic $(BENCH_LIBS) $(LDFLAGS)

$(O)/bin/qaicd: $(call obj,$(call srcs,host/qaicd)) $(LIBQAIC_A)
	$(Q)mkdir -p $(dir $@)
	@echo "  LD        $(patsubst $(O)/%,%,$@)"
	$(Q)$(CXX) -o $@ $(filter %.o,$^) $(LIBQAIC_A) $(QAIC_DEP_LIBS) $(LDFLAGS)

# The preload library carries its own copy of libqaic: the program it runs in has none.
$(O)/lib/libqaic-preload.so: $(call obj,$(call srcs,userspace/preload)) $(LIB_OBJS) $(SRC)/userspace/preload/exports.map
	$(Q)mkdir -p $(dir $@)
	@echo "  LD        $(patsubst $(O)/%,%,$@)"
	$(Q)$(CXX) -shared -Wl,-soname,libqaic-preload.so -Wl,--no-undefined \
		-Wl,--version-script=$(SRC)/userspace/preload/exports.map -o $@ $(filter %.o,$^) $(LDFLAGS) $(QAIC_DEP_LIBS)

$(call obj,$(SRC)/userspace/run/qaic_run.cc): CXXFLAGS += $(UMOCKDEV_CFLAGS)
$(O)/bin/qaic-run: $(call obj,$(call srcs,userspace/run)) $(LIBQAIC_A) | $(QAICD) $(PRELOAD)
	$(Q)mkdir -p $(dir $@)
	@echo "  LD        $(patsubst $(O)/%,%,$@)"
	$(Q)$(CXX) -o $@ $(filter %.o,$^) $(LIBQAIC_A) $(QAIC_DEP_LIBS) $(UMOCKDEV_LIBS) $(LDFLAGS)

$(O)/tests/qaic_unmodified: $(call obj,$(call srcs,selftests/unmodified)) $(KTAP_OBJ)
	$(Q)mkdir -p $(dir $@)
	@echo "  LD        $(patsubst $(O)/%,%,$@)"
	$(Q)$(CXX) -o $@ $^ $(DISCOVERY_LIBS) $(GTEST_LIBS) $(LDFLAGS)

define unit_test_rule
$(O)/tests/$(call test_name,$(1)): $(call obj,$(call srcs,$(1))) $(KTAP_OBJ) $(LIBQAIC_A)
	$$(Q)mkdir -p $$(dir $$@)
	@echo "  LD        $$(patsubst $(O)/%,%,$$@)"
	$$(Q)$$(CXX) -o $$@ $$(filter %.o,$$^) $(LIBQAIC_A) $$(GTEST_LIBS) $$(QAIC_DEP_LIBS) $$(LDFLAGS)
endef
$(foreach d,$(UNIT_TEST_DIRS),$(eval $(call unit_test_rule,$(d))))
# qaicd's tests start the qaicd of the same build.
$(O)/tests/host_qaicd_test: | $(QAICD)

$(SELFTEST): $(call obj,$(call srcs,selftests/drivers/accel/qaic)) $(KTAP_OBJ) $(LIBQAIC_SO)
	$(Q)mkdir -p $(dir $@)
	@echo "  LD        $(patsubst $(O)/%,%,$@)"
	$(Q)$(CXX) -o $@ $(filter %.o,$^) -L$(O)/lib $(RPATH_FLAG) -lqaic $(GTEST_LIBS) $(LDFLAGS)

$(O)/tests/qaic_selftest_failslab: $(call obj,$(call srcs,selftests/drivers/accel/qaic) $(call srcs,selftests/failslab)) $(KTAP_OBJ) $(LIBQAIC_A)
	$(Q)mkdir -p $(dir $@)
	@echo "  LD        $(patsubst $(O)/%,%,$@)"
	$(Q)$(CXX) -o $@ $(filter %.o,$^) $(LIBQAIC_A) $(GTEST_LIBS) $(QAIC_DEP_LIBS) $(LDFLAGS)

.PHONY: tests
tests: all $(TESTS) $(FAILSLAB) man

# ---------------------------------------------------------------------------- manual pages
# One source each: qaic-client(1), qaic-bench(1) and qaic-run(1) are their --help (help2man);
# qaicd(8) is docs/qaicd.md and libqaic(3) docs/libqaic.3.md (go-md2man, under a title line
# made from VERSION; a page's "# name(N)" heading gives way to it, its "##" sections become
# the page's). Dated by the release, not the build.
MAN_DATE := $(shell sed -n 2p $(SRC)/VERSION)
MAN_EPOCH = $(shell date -u -d $(MAN_DATE) +%s)
MAN1 := $(patsubst $(O)/bin/%,$(O)/man/man1/%.1,$(CLIENT) $(QAIC_RUN) $(BENCH))
MAN8 := $(if $(QAICD),$(O)/man/man8/qaicd.8)
MAN3 := $(O)/man/man3/libqaic.3
MANPAGES := $(MAN1) $(MAN8) $(MAN3)
man_name_qaic-client := reference client for Qualcomm Cloud AI 100 accelerators
man_name_qaic-bench := DMA throughput and submission latency of the qaic driver
man_name_qaic-run := run an unmodified program against simulated AIC100 cards
.PHONY: man
man: $(MANPAGES)

$(O)/man/man1/%.1: $(O)/bin/% $(SRC)/VERSION
	$(Q)mkdir -p $(dir $@)
	@echo "  MAN       $(patsubst $(O)/%,%,$@)"
	$(Q)LD_LIBRARY_PATH=$(O)/lib SOURCE_DATE_EPOCH=$(MAN_EPOCH) help2man -N -s 1 -n "$(man_name_$*)" -o $@ $<

# md_page TITLE SECTION MANUAL
md_page = $(Q){ echo '% $(1) $(2) "$(MAN_DATE)" "qaic $(QAIC_VERSION)" "$(3)"'; echo; \
	sed '/^\# [a-z-]*([0-9])$$/d; s/^\#\# /\# /' $<; } | go-md2man -out $@

$(MAN8): $(SRC)/docs/qaicd.md $(SRC)/VERSION
	$(Q)mkdir -p $(dir $@)
	@echo "  MAN       $(patsubst $(O)/%,%,$@)"
	$(call md_page,QAICD,8,System Administration)

$(MAN3): $(SRC)/docs/libqaic.3.md $(SRC)/VERSION
	$(Q)mkdir -p $(dir $@)
	@echo "  MAN       $(patsubst $(O)/%,%,$@)"
	$(call md_page,LIBQAIC,3,Library Functions Manual)

-include $(ALL_OBJS:.o=.d)

# ---------------------------------------------------------------------------- top-level goals
# check, demo and bench first make sure the Debian packages are there (installing them as root),
# then re-enter make so the package flags are read after the install.
.PHONY: deps check demo bench _check _demo _bench
deps:
	$(Q)$(SRC)/scripts/deps.sh install

check:
	$(Q)$(SRC)/scripts/deps.sh ensure
	$(Q)$(MAKE) --no-print-directory -f $(SRC)/Makefile O=$(O) _check

demo:
	$(Q)$(SRC)/scripts/deps.sh ensure
	$(Q)$(MAKE) --no-print-directory -f $(SRC)/Makefile O=$(O) _demo

bench:
	$(Q)$(SRC)/scripts/deps.sh ensure
	$(Q)$(MAKE) --no-print-directory -f $(SRC)/Makefile O=$(O) _bench

_check: tests
	$(Q)CC="$(CC)" SAN_FLAGS="$(SAN_FLAGS)" $(SRC)/scripts/run-tests.sh $(O) $(TESTS)

_demo: all
	$(Q)$(CLIENT) --device sim run --iterations 200 --batch 8

# The JSON stays in DIR/bench.json; the table compares the driver with the same run's baselines.
_bench: all
	$(Q)$(BENCH) --benchmark_out=$(O)/bench.json --benchmark_out_format=json $(BENCH_ARGS)
	$(Q)echo
	$(Q)$(PYTHON) $(SRC)/scripts/bench-report.py $(O)/bench.json

# The driver's tests again in a CONFIG_QAIC_DEBUG build, in $(O)-debug: every debug category
# on from the start, the invariant checks compiled in; none may break.
.PHONY: check-debug
check-debug:
	$(Q)$(SRC)/scripts/deps.sh ensure
	$(Q)$(SRC)/scripts/check-debug.sh $(O)-debug

# make failslab: the allocation-failure sweep over the selftests (selftests/failslab).
.PHONY: failslab _failslab
failslab:
	$(Q)$(SRC)/scripts/deps.sh ensure
	$(Q)$(MAKE) --no-print-directory -f $(SRC)/Makefile O=$(O) _failslab

_failslab: $(FAILSLAB)
	$(Q)$(FAILSLAB)

# ---------------------------------------------------------------------------- fuzzing
# make fuzz [FUZZ_SECONDS=N]: the libFuzzer targets (fuzz/*_fuzz.cc), built by clang with
# ASan + UBSan into build-fuzz/, each run N seconds (60) from its seed corpus.
FUZZ_SECONDS ?= 60
# Coverage for libFuzzer, without the standard library's containers (fuzz/coverage.ignorelist).
FUZZ_CXXFLAGS = -fsanitize=fuzzer-no-link -fsanitize-coverage-ignorelist=$(SRC)/fuzz/coverage.ignorelist
FUZZ_TARGETS := $(patsubst $(SRC)/fuzz/%.cc,$(O)/fuzz/%,$(filter %_fuzz.cc,$(call srcs,fuzz)))
.PHONY: fuzz _fuzz
fuzz:
	$(Q)$(SRC)/scripts/deps.sh ensure
	$(Q)$(MAKE) --no-print-directory -f $(SRC)/Makefile \
		O=$(SRC)/build-fuzz CXX=clang++ \
		SANITIZE=address,undefined EXTRA_CXXFLAGS="$(FUZZ_CXXFLAGS)" _fuzz

_fuzz: $(FUZZ_TARGETS)
	$(Q)$(SRC)/scripts/fuzz.sh $(O) $(FUZZ_SECONDS) $(FUZZ_TARGETS)

# make deb: the Debian packages, into DIR/deb (scripts/deb.sh).
.PHONY: deb
deb:
	$(Q)$(SRC)/scripts/deps.sh ensure
	$(Q)$(SRC)/scripts/deb.sh $(O)/deb

# make fuzz-regressions [FUZZ_SECONDS=N]: each known defect within the uapi fuzzer's reach put
# back (fuzz/regressions/*.patch) must be found again within N seconds.
.PHONY: fuzz-regressions
fuzz-regressions:
	$(Q)$(SRC)/scripts/deps.sh ensure
	$(Q)$(SRC)/scripts/fuzz-regressions.sh $(SRC)/build-fuzz-regressions $(FUZZ_SECONDS)

# The wire target hosts qaicd's server in the fuzzer's process.
$(O)/fuzz/wire_fuzz: $(O)/obj/host/qaicd/server.o
$(O)/fuzz/%: $(O)/obj/fuzz/%.o $(LIBQAIC_A)
	$(Q)mkdir -p $(dir $@)
	@echo "  LD        $(patsubst $(O)/%,%,$@)"
	$(Q)$(CXX) -fsanitize=fuzzer -o $@ $(filter %.o,$^) $(LIBQAIC_A) $(QAIC_DEP_LIBS) $(LDFLAGS)

# ---------------------------------------------------------------------------- install, clean
.PHONY: install clean distclean
install: all man
	$(Q)install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(LIBDIR)/pkgconfig \
		$(DESTDIR)$(PREFIX)/include/drm $(DESTDIR)$(PREFIX)/include/qaic
	$(Q)install -m 755 $(CLIENT) $(BENCH) $(QAICD) $(QAIC_RUN) $(DESTDIR)$(PREFIX)/bin/
	$(Q)install -m 644 $(LIBQAIC_A) $(DESTDIR)$(LIBDIR)/
	$(Q)install -m 755 $(LIBQAIC_REAL) $(DESTDIR)$(LIBDIR)/
	$(Q)ln -sf $(notdir $(LIBQAIC_REAL)) $(DESTDIR)$(LIBDIR)/$(LIBQAIC_SONAME)
	$(Q)ln -sf $(LIBQAIC_SONAME) $(DESTDIR)$(LIBDIR)/libqaic.so
	$(Q)install -m 644 $(SRC)/include/uapi/drm/qaic_accel.h $(DESTDIR)$(PREFIX)/include/drm/
	$(Q)install -m 644 $(SRC)/userspace/include/qaic/*.h $(SRC)/userspace/include/qaic/*.hpp \
		$(VERSION_H) $(DESTDIR)$(PREFIX)/include/qaic/
	$(Q)printf '%s\n' \
		'prefix=$(PREFIX)' 'libdir=$(LIBDIR)' 'includedir=$${prefix}/include' \
		'Name: qaic' 'Description: Qualcomm Cloud AI 100 accel userspace library' \
		'Version: $(QAIC_VERSION)' 'Requires: libdrm' 'Requires.private: zlib' 'Cflags: -I$${includedir}' \
		'Libs: $(SAN_FLAGS) -L$${libdir} -lqaic' 'Libs.private: -lstdc++ -lpthread' \
		> $(DESTDIR)$(LIBDIR)/pkgconfig/qaic.pc
	$(Q)for page in $(MANPAGES); do \
		sec=$$(basename $$(dirname $$page)); \
		install -d $(DESTDIR)$(PREFIX)/share/man/$$sec && \
		install -m 644 $$page $(DESTDIR)$(PREFIX)/share/man/$$sec/ || exit 1; \
	done
ifneq ($(QAIC_RUN),)
# qaic-run finds its preload library in ../lib/qaic (a private library: no SONAME users) and
# qaicd beside it.
	$(Q)install -d $(DESTDIR)$(PREFIX)/lib/qaic
	$(Q)install -m 644 $(PRELOAD) $(DESTDIR)$(PREFIX)/lib/qaic/
endif
ifneq ($(QAICD),)
# qaicd's units and defaults, with this prefix's paths.
	$(Q)install -d $(DESTDIR)$(SYSTEMDUNITDIR) $(DESTDIR)$(SYSCONFDIR)/default
	$(Q)sed 's|@BINDIR@|$(PREFIX)/bin|; s|@SYSCONFDIR@|$(SYSCONFDIR)|' \
		$(SRC)/contrib/systemd/qaicd.service > $(DESTDIR)$(SYSTEMDUNITDIR)/qaicd.service
	$(Q)install -m 644 $(SRC)/contrib/systemd/qaicd.socket $(DESTDIR)$(SYSTEMDUNITDIR)/
	$(Q)install -m 644 $(SRC)/contrib/default/qaicd $(DESTDIR)$(SYSCONFDIR)/default/
endif
	@echo "  INSTALL   $(DESTDIR)$(PREFIX)"

clean:
	$(Q)rm -rf $(O)

distclean:
	$(Q)rm -rf $(SRC)/build $(SRC)/build-*
