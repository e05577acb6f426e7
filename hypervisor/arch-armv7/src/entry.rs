//! Image header, entry, self-relocation and the HYP exception vectors.
//!
//! The image follows the Linux ARM boot protocol: entered at its first byte with
//! r0 = 0, r1 = machine type, r2 = DTB address, MMU and D-cache off. It carries a
//! zImage header so U-Boot's `bootz` accepts it. If it was loaded somewhere other
//! than its link address it copies itself there first (the copy loops sit at the
//! two ends of the image so that neither overwrites itself).
//!
//! A CPU whose MPIDR affinity level 0 is not 0 goes to `crate::smp`'s pen
//! at once: firmware that starts every CPU at the image's entry (QEMU
//! `virt,secure=on` with an ELF) gets one boot CPU, and the others wait
//! there, untouched, until snowvisor starts them.

core::arch::global_asm!(
    r#"
    .arch_extension virt
    .arch_extension sec
    .macro  SYNC_AND_JUMP
    dsb
    mov     r0, #0
    mcr     p15, 0, r0, c7, c5, 0   @ ICIALLU
    mcr     p15, 0, r0, c7, c5, 6   @ BPIALL
    dsb
    isb
    ldr     pc, =relocated
    .endm

    .section .text.entry, "ax"
    .arm
    .global _start
_start:
    .rept 8
    mov     r0, r0
    .endr
    b       1f
    .word   0x016f2818              @ zImage magic
    .word   _start                  @ load/run address
    .word   __image_end             @ end of the loaded image
    .word   0x04030201              @ little-endian
1:  mov     r8, r0
    mov     r9, r1
    mov     r10, r2
    mrs     r11, cpsr
    cpsid   aif
    mrc     p15, 0, r0, c0, c0, 5   @ MPIDR
    ands    r0, r0, #0xff           @ Aff0 0 boots; the others wait in the
    bne     snowvisor_pen           @ pen (smp.rs) until the boot CPU calls
    adr     r4, _start              @ where we run
    ldr     r5, =_start             @ where we are linked
    ldr     r6, =__image_end
    sub     r6, r6, r5              @ image size
    cmp     r4, r5
    beq     relocated
    bhi     copy_down_tail          @ linked below where we run: copy forward
    @ Linked above: copy backward, from the top, running from the image start.
    add     r0, r4, r6
    add     r1, r5, r6
2:  ldr     r2, [r0, #-4]!
    str     r2, [r1, #-4]!
    cmp     r0, r4
    bhi     2b
    b       sync_and_jump

sync_and_jump:
    SYNC_AND_JUMP

relocated:
    bl      snowvisor_secure_to_hyp @ Secure SVC -> HYP (secure.rs); else no-op
    and     r0, r11, #0x1f
    cmp     r0, #0x1a
    bne     1f
    ldr     r0, =snowvisor_vectors
    mcr     p15, 4, r0, c12, c0, 0  @ HVBAR, first thing at HYP
1:  ldr     sp, =__stack_top
    ldr     r0, =__bss_start
    ldr     r1, =__bss_end
    mov     r2, #0
2:  cmp     r0, r1
    strlo   r2, [r0], #4
    blo     2b
    mov     r0, r8
    mov     r1, r9
    mov     r2, r10
    mov     r3, r11
    bl      snowvisor_board_entry
3:  wfi
    b       3b

    @ Placed last in the image: the forward copy never reaches it.
    .section .text.reloc_tail, "ax"
copy_down_tail:
    mov     r0, r4
    mov     r1, r5
    add     r3, r4, r6
4:  ldr     r2, [r0], #4
    str     r2, [r1], #4
    cmp     r0, r3
    blo     4b
    SYNC_AND_JUMP                   @ the image start may be overwritten: stay here

    .section .text.vectors, "ax"
    .balign 32
    .global snowvisor_vectors
snowvisor_vectors:
    b       vec_reset
    b       vec_undef
    b       vec_hvc
    b       vec_pabt
    b       vec_dabt
    b       vec_trap
    b       vec_irq
    b       vec_fiq

    .macro  VECTOR name, kind
\name:
    sub     sp, sp, #8
    push    {{r0-r12, lr}}
    mrs     r0, elr_hyp
    mrs     r1, spsr_hyp
    strd    r0, r1, [sp, #56]
    mov     r0, #\kind
    mov     r1, sp
    bl      snowvisor_exception
    b       exception_return
    .endm

    VECTOR  vec_reset, 0
    VECTOR  vec_undef, 1
    VECTOR  vec_hvc, 2
    VECTOR  vec_pabt, 3
    VECTOR  vec_dabt, 4
    VECTOR  vec_irq, 6
    VECTOR  vec_fiq, 7

    @ The hot path (hypercalls, data aborts): no vector dispatch, and it
    @ falls through to the return.
vec_trap:
    sub     sp, sp, #8
    push    {{r0-r12, lr}}
    mrs     r0, elr_hyp
    mrs     r1, spsr_hyp
    strd    r0, r1, [sp, #56]
    mov     r0, sp
    bl      snowvisor_trap

    .global exception_return
exception_return:
    ldrd    r0, r1, [sp, #56]
    msr     elr_hyp, r0
    msr     spsr_hyp, r1
    pop     {{r0-r12, lr}}
    add     sp, sp, #8
    eret
"#
);
