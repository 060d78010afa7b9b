//! `open_enum!`: a newtype over a wire code with named constants and a snake_case name
//! table. Unknown codes are values, not errors (after smoltcp's `enum_with_unknown!` and
//! tls-parser's `newtype_enum!`).

macro_rules! open_enum {
    (
        $(#[$meta:meta])*
        pub struct $name:ident($ty:ty) {
            $( $variant:ident = $val:literal => $sname:literal, )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub $ty);

        #[allow(missing_docs)]
        impl $name {
            $( pub const $variant: $name = $name($val); )*

            /// The code's snake_case name, or `None` for a code the table does not know.
            pub const fn name(self) -> Option<&'static str> {
                match self.0 {
                    $( $val => Some($sname), )*
                    _ => None,
                }
            }
        }
    };
}
