//! The numbers behind the `fn` language's builtins where phx does not take
//! libm's: one definition that the reference interpreter (`phx-sema`) and
//! the native code (`phx-codegen`, point by point and over whole buffers)
//! share, so that they agree to the last bit on every machine.

mod exp;

pub use exp::{exp, exp_slice};
