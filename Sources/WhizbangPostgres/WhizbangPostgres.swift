@_exported public import Whizbang
