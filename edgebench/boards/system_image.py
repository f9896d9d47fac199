"""Bootable images of full-system emulated boards, built from Debian packages only.

`edgebench target image imx6q` resolves the packages' current versions, and when no image of exactly those
versions is cached, downloads them (edgebench.boards.debian_archive), takes the kernel and the board's device
tree from Debian's armmp kernel package and writes an initramfs holding the whole userland: busybox (static),
dropbear as SSH server with OpenSSH's sftp-server, the shared libraries those two load and the kernel modules
the board's network needs. The SSH host key is generated at build time (the image's dropbearkey, run under
qemu-user) and its public half kept next to the image, so every boot is pinned to it; a client key is
generated with it. The runner is static and needs none of the libraries.

Images live in cache_dir()/system-images/NAME-KEY/, KEY a digest of the package versions and of this recipe:
a rebuild happens only when one of them changes.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from edgebench.boards.cpio import DeviceNode, write_initramfs
from edgebench.boards.debian_archive import DebianArchive, Package, extract
from edgebench.boards.sshd import keygen
from edgebench.errors import EdgebenchError
from edgebench.paths import cache_dir, ensure_dir

IMAGE_FORMAT = 1  # bump when the layout below changes: every cached image is rebuilt

# What the userland is made of. The libraries are checked against what dropbear and sftp-server load (ELF
# NEEDED), so a Debian update that adds one fails the build with its name instead of booting a broken sshd.
USERLAND = ("busybox-static", "dropbear-bin", "openssh-sftp-server")
LIBRARIES = ("libc6", "libcrypt1", "libtomcrypt1", "libtommath1", "libgmp10", "zlib1g")


@dataclass(frozen=True)
class ImageRecipe:
    name: str
    debian_arch: str
    triplet: str  # the multiarch folder of its libraries
    kernel_package: str  # the metapackage whose dependency names the current kernel
    dtb: str  # under the kernel package's /usr/lib/linux-image-RELEASE/
    modules: tuple[str, ...]  # loaded at boot (with what they depend on); the rest of the board is built in
    console: str  # the kernel's serial console
    machine: tuple[str, ...]  # qemu-system argv naming the machine (-smp and -m come from the device)
    console_serial: int  # which -serial the console is: sabrelite's device tree puts it on UART2
    nic: tuple[str, ...]  # qemu argv of the network, "{port}" the host port SSH is forwarded from

    @property
    def dtb_name(self) -> str:
        return Path(self.dtb).name


RECIPES = {
    # The FEC driver needs the GPIO controller (its PHY reset line), a module in Debian's armmp kernel.
    "imx6q": ImageRecipe(
        name="imx6q", debian_arch="armhf", triplet="arm-linux-gnueabihf", kernel_package="linux-image-armmp",
        dtb="imx6q-sabrelite.dtb", modules=("gpio_mxc", "fec"), console="ttymxc1",
        machine=("qemu-system-arm", "-M", "sabrelite"), console_serial=1,
        nic=("-nic", "user,hostfwd=tcp:127.0.0.1:{port}-:22")),
    # A Pi 3 has no on-board NIC QEMU models (its LAN9514 hangs off USB): a USB network device on the dwc2
    # host controller instead, driven by cdc_ether.
    "rpi3": ImageRecipe(
        name="rpi3", debian_arch="arm64", triplet="aarch64-linux-gnu", kernel_package="linux-image-arm64",
        dtb="broadcom/bcm2837-rpi-3-b.dtb", modules=("dwc2", "cdc_ether"), console="ttyAMA0",
        machine=("qemu-system-aarch64", "-M", "raspi3b"), console_serial=0,
        nic=("-netdev", "user,id=net0,hostfwd=tcp:127.0.0.1:{port}-:22", "-device", "usb-net,netdev=net0")),
}


def recipe(name: str) -> ImageRecipe:
    if name not in RECIPES:
        raise EdgebenchError(f"no system image named {name!r} (known: {', '.join(sorted(RECIPES))})",
                             hint="a device's system: image field names one of them")
    return RECIPES[name]


# PID 1 is busybox init. /etc/rc mounts what the runner and the state probe read, loads the network driver,
# waits for its interface (a USB one enumerates late) and sets up user-mode networking's fixed addresses;
# inittab keeps dropbear running (public-key login only).
_INIT = """#!/bin/busybox sh
/bin/busybox --install -s /bin
exec /bin/init
"""
_INITTAB = """::sysinit:/etc/rc
::respawn:/usr/sbin/dropbear -F -E -s -p 22 -r /etc/dropbear/dropbear_ed25519_host_key
::shutdown:/bin/echo edgebench: shutting down
"""
_RC = """#!/bin/sh
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /var/run /var/log
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /tmp
while read -r module; do insmod "/lib/modules/$module" || echo "edgebench: insmod $module failed"; done < /etc/modules
hostname "$(cat /etc/hostname)"
ip link set lo up
for i in $(seq 60); do
  iface=$(ls /sys/class/net | grep -v '^lo$' | head -n 1)
  [ -n "$iface" ] && break
  sleep 1
done
ip link set "$iface" up && ip addr add 10.0.2.15/24 dev "$iface" && ip route add default via 10.0.2.2
echo "edgebench: userland up"
"""


@dataclass(frozen=True)
class SystemImage:
    name: str
    folder: Path
    key: str
    kernel_release: str
    packages: dict[str, str]  # name -> version
    build_seconds: float
    host_key: str  # "ssh-ed25519 AAAA..." as dropbearkey printed it

    @property
    def kernel(self) -> Path:
        return self.folder / "vmlinuz"

    @property
    def dtb(self) -> Path:
        return self.folder / recipe(self.name).dtb_name

    @property
    def initramfs(self) -> Path:
        return self.folder / "initramfs.cpio.gz"

    @property
    def client_key(self) -> Path:
        return self.folder / "client_ed25519"


def images_dir() -> Path:
    return cache_dir() / "system-images"


def _archive(r: ImageRecipe) -> DebianArchive:
    return DebianArchive(images_dir() / f"apt-{r.debian_arch}", r.debian_arch)


def resolve_packages(r: ImageRecipe, archive: DebianArchive) -> list[Package]:
    """The packages of the image at the versions apt offers now: the versioned kernel the metapackage names,
    then the userland and its libraries."""
    (meta,) = archive.candidates([r.kernel_package])
    kernel = re.match(r"\s*(linux-image-[^\s,(]+)", meta.depends)
    if kernel is None:
        raise EdgebenchError(f"{r.kernel_package} {meta.version} names no kernel package (Depends: {meta.depends})")
    return archive.candidates([kernel.group(1), *USERLAND, *LIBRARIES])


def image_key(r: ImageRecipe, packages: list[Package]) -> str:
    spec = {"format": IMAGE_FORMAT, "recipe": dataclasses.asdict(r), "init": [_INIT, _INITTAB, _RC],
            "packages": {p.name: p.version for p in packages}}
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]


def _load(folder: Path) -> SystemImage | None:
    try:
        data = json.loads((folder / "image.json").read_text())
        return SystemImage(**{**data, "folder": folder})
    except (OSError, ValueError, TypeError):
        return None


def build_image(name: str, refresh: bool = False, say: Callable[[str], None] = lambda _: None) -> tuple[SystemImage, bool]:
    """The image of `name` for the packages' current versions: (image, whether it was built now). `refresh`
    fetches the package lists again first (else they are fetched once)."""
    r = recipe(name)
    start = time.monotonic()  # the build time counts the package lists too, when they are fetched
    archive = _archive(r)
    if refresh or not archive.has_lists:
        say(f"fetching the Debian {r.debian_arch} package lists")
        archive.update()
    packages = resolve_packages(r, archive)
    key = image_key(r, packages)
    folder = images_dir() / f"{name}-{key}"
    existing = _load(folder)
    if existing is not None:
        return existing, False
    say(f"building system image {name} from {len(packages)} Debian packages ({packages[0].name} {packages[0].version})")
    ensure_dir(images_dir(), "the system images folder", "point EDGEBENCH_CACHE at a writable folder")
    with tempfile.TemporaryDirectory(prefix=f".{name}-", dir=images_dir()) as tmp:
        work = Path(tmp)
        out = work / "image"
        out.mkdir()
        (work / "debs").mkdir()
        debs = archive.download(packages, work / "debs")
        kernel_tree, userland_tree = work / "kernel", work / "userland"
        extract(debs[0], kernel_tree)
        for deb in debs[1:]:
            extract(deb, userland_tree)
        release = _kernel_files(r, kernel_tree, out)
        root = work / "root"
        _assemble_root(r, userland_tree, kernel_tree, release, root)
        host_key = _host_key(r, userland_tree, root)
        keygen(out / "client_ed25519")
        ssh = root / "root" / ".ssh"
        ssh.mkdir(parents=True)
        (ssh / "authorized_keys").write_text((out / "client_ed25519.pub").read_text())
        write_initramfs(root, out / "initramfs.cpio.gz",
                        modes={"root": 0o700, "root/.ssh": 0o700, "root/.ssh/authorized_keys": 0o600,
                               "etc/dropbear/dropbear_ed25519_host_key": 0o600},
                        nodes=(DeviceNode("dev/console", 5, 1), DeviceNode("dev/null", 1, 3, 0o666)))
        image = SystemImage(name=name, folder=folder, key=key, kernel_release=release,
                            packages={p.name: p.version for p in packages},
                            build_seconds=round(time.monotonic() - start, 1), host_key=host_key)
        record = {k: v for k, v in dataclasses.asdict(image).items() if k != "folder"}
        (out / "image.json").write_text(json.dumps(record, indent=2) + "\n")
        if folder.exists():  # a half-written folder from a build that died: replaced whole
            shutil.rmtree(folder)
        os.rename(out, folder)
    for stale in superseded(name, folder):
        shutil.rmtree(stale, ignore_errors=True)
        say(f"removed the superseded image {stale.name}")
    return image, True


def superseded(name: str, current: Path) -> list[Path]:
    """The images of `name` a new build replaces: all but `current` and the newest one before it (a machine
    still running may use that one; its client key lives there). They are cache: a build makes them again."""
    older = sorted((f for f in images_dir().glob(f"{name}-*")
                    if f != current and f.is_dir() and (f / "image.json").exists()),
                   key=lambda f: (f / "image.json").stat().st_mtime, reverse=True)
    return older[1:]


def _kernel_files(r: ImageRecipe, kernel_tree: Path, out: Path) -> str:
    """Copy the kernel and the device tree next to the image; returns the kernel release."""
    kernels = sorted((kernel_tree / "boot").glob("vmlinuz-*"))
    if not kernels:
        raise EdgebenchError(f"the kernel package of {r.name} holds no /boot/vmlinuz-*")
    release = kernels[0].name.removeprefix("vmlinuz-")
    dtb = kernel_tree / "usr" / "lib" / f"linux-image-{release}" / r.dtb
    if not dtb.is_file():
        raise EdgebenchError(f"the kernel package of {r.name} ships no device tree {r.dtb}")
    shutil.copyfile(kernels[0], out / "vmlinuz")
    shutil.copyfile(dtb, out / r.dtb_name)
    return release


def _assemble_root(r: ImageRecipe, userland: Path, kernel_tree: Path, release: str, root: Path) -> None:
    """The initramfs tree: busybox, dropbear, sftp-server where dropbear runs it, their libraries, modules."""
    for folder in ("bin", "proc", "sys", "dev", "tmp", "etc/dropbear", f"lib/{r.triplet}", "usr/sbin",
                   "usr/lib", "lib/modules"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    programs = {"bin/busybox": "bin/busybox", "usr/sbin/dropbear": "usr/sbin/dropbear",
                # dropbear runs the sftp subsystem from this path (its SFTPSERVER_PATH)
                "usr/lib/sftp-server": "usr/lib/openssh/sftp-server"}
    for dest, src in programs.items():
        if not (userland / src).is_file():
            raise EdgebenchError(f"the {r.name} userland packages hold no /{src}")
        shutil.copy2(userland / src, root / dest)
    _copy_libraries(r, userland, root, [root / d for d in programs if d != "bin/busybox"])
    (root / "init").write_text(_INIT)
    (root / "etc" / "rc").write_text(_RC)
    for script in ("init", "etc/rc"):
        os.chmod(root / script, 0o755)
    (root / "etc" / "inittab").write_text(_INITTAB)
    (root / "etc" / "hostname").write_text(f"{r.name}\n")
    (root / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    (root / "etc" / "group").write_text("root:x:0:\n")
    (root / "etc" / "shells").write_text("/bin/sh\n")  # dropbear refuses a login shell not listed here
    (root / "etc" / "nsswitch.conf").write_text("passwd: files\ngroup: files\nshadow: files\nhosts: files\n")
    order = _module_order(r, kernel_tree / "lib" / "modules" / release)
    for module in order:
        shutil.copyfile(module, root / "lib" / "modules" / module.name)
    (root / "etc" / "modules").write_text("".join(f"{m.name}\n" for m in order))


def _needed(binary: Path) -> tuple[list[str], str | None]:
    """(DT_NEEDED sonames, program interpreter) of an ELF file, as readelf reads them."""
    readelf = shutil.which("readelf") or shutil.which("arm-linux-gnueabihf-readelf")
    if readelf is None:
        raise EdgebenchError("readelf not found: the image's libraries are resolved with it",
                             hint="sudo apt-get install binutils")
    text = subprocess.run([readelf, "-d", "-l", str(binary)], capture_output=True, text=True).stdout
    interp = re.search(r"Requesting program interpreter: ([^\]]+)\]", text)
    return re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", text), interp.group(1) if interp else None


def _copy_libraries(r: ImageRecipe, userland: Path, root: Path, binaries: list[Path]) -> None:
    """Every library the binaries load, transitively, into /lib/TRIPLET, and the loader at its path."""
    search = [userland / "lib" / r.triplet, userland / "usr" / "lib" / r.triplet]
    pending, done = list(binaries), set()
    while pending:
        sonames, interp = _needed(pending.pop())
        if interp is not None and not (root / interp.lstrip("/")).exists():
            loader = (userland / interp.lstrip("/")).resolve()
            (root / interp.lstrip("/")).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(loader, root / interp.lstrip("/"))
            os.chmod(root / interp.lstrip("/"), 0o755)
        for soname in sonames:
            if soname in done:
                continue
            done.add(soname)
            found = next((d / soname for d in search if (d / soname).exists()), None)
            if found is None:
                raise EdgebenchError(f"{r.name} image: no package of the userland provides {soname}",
                                     hint=f"add its Debian package to LIBRARIES in {__name__}")
            dest = root / "lib" / r.triplet / soname
            if not dest.exists():
                shutil.copyfile(found.resolve(), dest)
                pending.append(dest)


def _module_order(r: ImageRecipe, modules_root: Path) -> list[Path]:
    """The .ko files of the recipe's modules, each after the modules it depends on (its modinfo depends=)."""
    by_name = {p.name.removesuffix(".ko").replace("-", "_"): p for p in modules_root.rglob("*.ko")}
    order: list[Path] = []

    def visit(name: str) -> None:
        key = name.replace("-", "_")
        if key not in by_name:
            raise EdgebenchError(f"{r.name} image: kernel module {name} not found under {modules_root.name}")
        path = by_name[key]
        if path in order:
            return
        deps = re.search(rb"depends=([^\0]*)\0", path.read_bytes())
        for dep in (deps.group(1).decode().split(",") if deps and deps.group(1) else []):
            visit(dep)
        order.append(path)

    for module in r.modules:
        visit(module)
    return order


def _host_key(r: ImageRecipe, userland: Path, root: Path) -> str:
    """Generate the image's dropbear host key with the image's own dropbearkey (under qemu-user, its libraries
    taken from the image root: a library missing from the image fails here, not at boot); returns the public
    key line."""
    emulator = {"armhf": "qemu-arm", "arm64": "qemu-aarch64"}[r.debian_arch]
    if shutil.which(emulator) is None:
        raise EdgebenchError(f"{emulator} not found: it generates the image's SSH host key",
                             hint="sudo apt-get install qemu-user")
    key_file = root / "etc" / "dropbear" / "dropbear_ed25519_host_key"
    done = subprocess.run([emulator, "-L", str(root), str(userland / "usr" / "bin" / "dropbearkey"),
                           "-t", "ed25519", "-f", str(key_file)], capture_output=True, text=True)
    line = next((l for l in done.stdout.splitlines() if l.startswith("ssh-ed25519 ")), None)
    if done.returncode != 0 or line is None:
        raise EdgebenchError(f"dropbearkey failed building the {r.name} image: "
                             f"{(done.stderr.strip() or done.stdout.strip())[-300:]}")
    return " ".join(line.split()[:2])
