//! The initial VM save area (VMSA) of each vCPU, as the VMM hands it to the firmware: a 4 KiB
//! page in the layout of AMD APM volume 2, table B-4 (SEV-ES save area).

use crate::gctx::PAGE;
use crate::vcpu::VmmType;

/// Reset vector of the boot processor.
pub const BSP_EIP: u32 = 0xFFFF_FFF0;

/// A VMSA page being filled in.
struct Page([u8; PAGE]);

impl Page {
    fn put(&mut self, offset: usize, bytes: &[u8]) {
        self.0[offset..offset + bytes.len()].copy_from_slice(bytes);
    }
    fn u64(&mut self, offset: usize, v: u64) {
        self.put(offset, &v.to_le_bytes());
    }
    fn u32(&mut self, offset: usize, v: u32) {
        self.put(offset, &v.to_le_bytes());
    }
    fn u16(&mut self, offset: usize, v: u16) {
        self.put(offset, &v.to_le_bytes());
    }
    /// A VMCB segment register: selector, attributes, limit, base.
    fn segment(&mut self, offset: usize, selector: u16, attrib: u16, limit: u32, base: u64) {
        self.u16(offset, selector);
        self.u16(offset + 2, attrib);
        self.u32(offset + 4, limit);
        self.u64(offset + 8, base);
    }
}

// Offsets in the save area.
const ES: usize = 0x00;
const CS: usize = 0x10;
const SS: usize = 0x20;
const DS: usize = 0x30;
const FS: usize = 0x40;
const GS: usize = 0x50;
const GDTR: usize = 0x60;
const LDTR: usize = 0x70;
const IDTR: usize = 0x80;
const TR: usize = 0x90;
const EFER: usize = 0xD0;
const CR4: usize = 0x148;
const CR0: usize = 0x158;
const DR7: usize = 0x160;
const DR6: usize = 0x168;
const RFLAGS: usize = 0x170;
const RIP: usize = 0x178;
const G_PAT: usize = 0x268;
const RDX: usize = 0x310;
const SEV_FEATURES: usize = 0x3B0;
const XCR0: usize = 0x3E8;
const MXCSR: usize = 0x408;
const X87_FCW: usize = 0x410;

/// Registers that are the same for every VMM: control registers, flags, debug registers.
fn common(p: &mut Page, cr0: u64, rip: u64, rdx: u64, sev_features: u64, g_pat: u64) {
    p.segment(GDTR, 0, 0, 0xFFFF, 0);
    p.segment(IDTR, 0, 0, 0xFFFF, 0);
    p.segment(LDTR, 0, 0x82, 0xFFFF, 0);
    p.u64(EFER, 0x1000); // KVM sets EFER.SVME
    p.u64(CR4, 0x40); // and CR4.MCE
    p.u64(CR0, cr0);
    p.u64(DR7, 0x400);
    p.u64(DR6, 0xFFFF_0FF0);
    p.u64(RFLAGS, 0x2);
    p.u64(RIP, rip);
    p.u64(G_PAT, g_pat);
    p.u64(RDX, rdx);
    p.u64(SEV_FEATURES, sev_features);
    p.u64(XCR0, 0x1);
}

/// The VMSA of a vCPU starting at `eip` in real mode (the firmware's reset vector), as QEMU,
/// EC2 or GCE builds it. `vcpu_sig` goes to RDX under QEMU; EC2 and GCE put 0x600 there.
pub fn vmsa_page(eip: u32, sev_features: u64, vcpu_sig: u32, vmm: VmmType) -> [u8; PAGE] {
    let mut p = Page([0; PAGE]);
    // PAT MSR reset value (AMD APM vol. 2, A.3); GCE's hypervisor writes its own.
    let mut g_pat = 0x0007_0406_0007_0406;
    let (cs_flags, ss_flags, tr_flags, rdx, mxcsr, fcw) = match vmm {
        VmmType::Qemu => (0x9B, 0x93, 0x8B, u64::from(vcpu_sig), 0x1F80, 0x37F),
        VmmType::Ec2 => {
            let cs = if eip == BSP_EIP { 0x9A } else { 0x9B };
            (cs, 0x92, 0x83, 0x600, 0, 0)
        }
        VmmType::Gce => {
            g_pat = 0x0007_0106;
            (0x9B, 0x93, 0x8B, 0x600, 0, 0)
        }
    };
    p.segment(ES, 0, 0x93, 0xFFFF, 0);
    p.segment(CS, 0xF000, cs_flags, 0xFFFF, u64::from(eip & 0xFFFF_0000));
    p.segment(SS, 0, ss_flags, 0xFFFF, 0);
    p.segment(DS, 0, 0x93, 0xFFFF, 0);
    p.segment(FS, 0, 0x93, 0xFFFF, 0);
    p.segment(GS, 0, 0x93, 0xFFFF, 0);
    p.segment(TR, 0, tr_flags, 0xFFFF, 0);
    common(
        &mut p,
        0x10,
        u64::from(eip & 0xFFFF),
        rdx,
        sev_features,
        g_pat,
    );
    p.u32(MXCSR, mxcsr);
    p.u16(X87_FCW, fcw);
    p.0
}

/// The VMSA of a vCPU entering a Coconut-SVSM in 32-bit protected mode at `eip`. As in
/// sev-snp-measure 0.0.13, x87 FCW stays 0 here (its "fcw" keyword names no field).
pub fn svsm_vmsa_page(eip: u64, vcpu_sig: u32) -> [u8; PAGE] {
    let mut p = Page([0; PAGE]);
    for (offset, selector) in [(ES, 16), (SS, 16), (DS, 16), (FS, 16)] {
        p.segment(offset, selector, 0xC93, 0xFFFF_FFFF, 0);
    }
    p.segment(CS, 8, 0xC9B, 0xFFFF_FFFF, 0);
    p.segment(GS, 0, 0x093, 0xFFFF, 0);
    p.segment(TR, 0, 0x8B, 0xFFFF, 0);
    common(
        &mut p,
        0x11,
        eip,
        u64::from(vcpu_sig),
        0x1,
        0x0007_0406_0007_0406,
    );
    p.u32(MXCSR, 0x1F80);
    p.0
}
