//! `#[derive(Params)]`: the parameter schema of an action (or of a structure inside one) from
//! the type its parameters deserialize into, so that the type is the one declaration of what
//! the action accepts.
//!
//! The derive reads the struct as serde does: the wire name of a field is its
//! `#[serde(rename = "...")]`, else its name in PascalCase under `#[serde(rename_all =
//! "PascalCase")]` (the only renaming the API needs), else its name. A field is required unless
//! it is an `Option` or has `#[serde(default)]`; `#[serde(flatten)]` splices in the fields of
//! another `Params` type; `#[serde(skip)]` fields are not parameters. Types map onto
//! `scf_types::schema::Ty` through the `Param` trait (`String` is `Str`, `i64` `Int`, `u64`
//! `Uint`, ...), and `Vec<T>` onto a list of `T`.
//!
//! A field kept as it came (a `serde_json::Value` or `Map`, stored and not read) names the
//! type that describes it with `#[params(schema = Type)]`: a flattened map then splices in
//! `Type`'s fields, any other field is checked as `Type`.
//!
//! It writes `impl Params` (`FIELDS`, a `&'static [Field]` built at compile time) and `impl
//! Param` (`Ty::Obj(FIELDS)`, so the type can be a field of another).

use proc_macro::TokenStream;
use proc_macro2::TokenStream as Tokens;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Data, DeriveInput, Fields, GenericArgument, LitStr, PathArguments, Type};

#[proc_macro_derive(Params, attributes(params))]
pub fn derive_params(input: TokenStream) -> TokenStream {
    let input = syn::parse_macro_input!(input as DeriveInput);
    match expand(&input) {
        Ok(tokens) => tokens.into(),
        Err(e) => e.to_compile_error().into(),
    }
}

/// What serde's attributes on one item say, as far as the schema cares.
#[derive(Default)]
struct Serde {
    rename: Option<String>,
    rename_all_pascal: bool,
    default: bool,
    flatten: bool,
    skip: bool,
}

/// `#[params(schema = Type)]`: the type a kept-as-sent field is checked as.
fn schema_attr(attrs: &[syn::Attribute]) -> syn::Result<Option<Type>> {
    let mut out = None;
    for attr in attrs.iter().filter(|a| a.path().is_ident("params")) {
        attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("schema") {
                out = Some(meta.value()?.parse::<Type>()?);
                Ok(())
            } else {
                Err(meta.error("expected `schema = Type`"))
            }
        })?;
    }
    Ok(out)
}

fn serde_attrs(attrs: &[syn::Attribute]) -> syn::Result<Serde> {
    let mut out = Serde::default();
    for attr in attrs.iter().filter(|a| a.path().is_ident("serde")) {
        attr.parse_nested_meta(|meta| {
            let key = meta
                .path
                .get_ident()
                .map(|i| i.to_string())
                .unwrap_or_default();
            match key.as_str() {
                // A name the schema does not know, or one it knows that serde reads under
                // another, would make the schema and the type disagree: refused here.
                "rename" if !meta.input.peek(syn::Token![=]) => {
                    return Err(meta.error("Params needs `rename = \"Name\"` (one name both ways)"));
                }
                "alias" => return Err(meta.error("Params cannot describe serde aliases")),
                "rename" => out.rename = Some(meta.value()?.parse::<LitStr>()?.value()),
                "rename_all" => {
                    let rule = meta.value()?.parse::<LitStr>()?.value();
                    if rule != "PascalCase" {
                        return Err(meta.error("Params knows rename_all = \"PascalCase\" only"));
                    }
                    out.rename_all_pascal = true;
                }
                "default" => {
                    out.default = true;
                    if meta.input.peek(syn::Token![=]) {
                        meta.value()?.parse::<LitStr>()?;
                    }
                }
                "flatten" => out.flatten = true,
                "skip" | "skip_deserializing" => out.skip = true,
                _ => {
                    // Other serde attributes do not change the schema; consume their value.
                    if meta.input.peek(syn::Token![=]) {
                        meta.value()?.parse::<syn::Expr>()?;
                    } else if meta.input.peek(syn::token::Paren) {
                        meta.parse_nested_meta(|inner| {
                            if inner.input.peek(syn::Token![=]) {
                                inner.value()?.parse::<syn::Expr>()?;
                            }
                            Ok(())
                        })?;
                    }
                }
            }
            Ok(())
        })?;
    }
    Ok(out)
}

/// serde's PascalCase of a snake_case name.
fn pascal(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut upper = true;
    for c in name.trim_start_matches("r#").chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// The one type argument of `ty` if its last path segment is `wrapper` (`Option<T>`, `Vec<T>`).
fn inner_of<'a>(ty: &'a Type, wrapper: &str) -> Option<&'a Type> {
    let Type::Path(p) = ty else { return None };
    let last = p.path.segments.last()?;
    if last.ident != wrapper {
        return None;
    }
    let PathArguments::AngleBracketed(args) = &last.arguments else {
        return None;
    };
    match args.args.first()? {
        GenericArgument::Type(t) if args.args.len() == 1 => Some(t),
        _ => None,
    }
}

/// The `Ty` expression of a field's type (its `Option` already taken off).
fn ty_expr(ty: &Type) -> Tokens {
    match inner_of(ty, "Vec") {
        Some(item) => {
            let item = ty_expr(item);
            quote! { ::scf_types::schema::Ty::List(&#item) }
        }
        None => quote_spanned! {ty.span()=> <#ty as ::scf_types::schema::Param>::TY },
    }
}

fn expand(input: &DeriveInput) -> syn::Result<Tokens> {
    let name = &input.ident;
    let Data::Struct(data) = &input.data else {
        return Err(syn::Error::new(
            input.span(),
            "Params is derived for structs",
        ));
    };
    let Fields::Named(fields) = &data.fields else {
        return Err(syn::Error::new(input.span(), "Params needs named fields"));
    };
    if !input.generics.params.is_empty() {
        return Err(syn::Error::new(
            input.generics.span(),
            "Params is derived for types without generics",
        ));
    }
    let container = serde_attrs(&input.attrs)?;
    let mut own = Vec::new();
    let mut flattened: Vec<Type> = Vec::new();
    for field in &fields.named {
        let attrs = serde_attrs(&field.attrs)?;
        let schema = schema_attr(&field.attrs)?;
        if attrs.skip {
            continue;
        }
        if attrs.flatten {
            flattened.push(schema.unwrap_or_else(|| field.ty.clone()));
            continue;
        }
        let ident = field
            .ident
            .as_ref()
            .map(|i| i.to_string())
            .unwrap_or_default();
        let wire = attrs.rename.clone().unwrap_or_else(|| {
            if container.rename_all_pascal {
                pascal(&ident)
            } else {
                ident.trim_start_matches("r#").to_string()
            }
        });
        let (ty, optional) = match inner_of(&field.ty, "Option") {
            Some(inner) => (inner, true),
            None => (&field.ty, attrs.default),
        };
        let ty = match &schema {
            Some(t) => ty_expr(t),
            None => ty_expr(ty),
        };
        let required = !optional;
        own.push(quote! {
            ::scf_types::schema::Field { name: #wire, ty: #ty, required: #required }
        });
    }
    let count = own.len();
    let mut fields_expr = quote! { &OWN };
    let mut len = quote! { #count };
    for f in flattened {
        len = quote! { #len + <#f as ::scf_types::schema::Params>::FIELDS.len() };
        fields_expr = quote! {
            &::scf_types::schema::concat::<{ #len }>(#fields_expr, <#f as ::scf_types::schema::Params>::FIELDS)
        };
    }
    Ok(quote! {
        impl ::scf_types::schema::Params for #name {
            const FIELDS: &'static [::scf_types::schema::Field] = {
                const OWN: [::scf_types::schema::Field; #count] = [#(#own),*];
                #fields_expr
            };
        }
        impl ::scf_types::schema::Param for #name {
            const TY: ::scf_types::schema::Ty =
                ::scf_types::schema::Ty::Obj(<#name as ::scf_types::schema::Params>::FIELDS);
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pascal_case_as_serde_writes_it() {
        assert_eq!(pascal("function_name"), "FunctionName");
        assert_eq!(pascal("orderby"), "Orderby");
        assert_eq!(pascal("msg_ttl"), "MsgTtl");
        assert_eq!(pascal("r#type"), "Type");
    }
}
